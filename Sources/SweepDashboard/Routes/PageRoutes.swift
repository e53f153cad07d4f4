import Hummingbird

/// The pages a browser opens, their live parts (`/parts/...`, fetched again by the script) and the script.
struct PageRoutes {
  let views: DashboardViews

  var routes: RouteCollection<BasicRequestContext> {
    let routes = RouteCollection(context: BasicRequestContext.self)
    routes.get("/") { request, _ in
      let links = Responses.links(request)
      let overview = views.overview()
      return Responses.html(
        Pages.page(
          title: "trac-sweep: \(overview.sweeps.count) sweeps", links: links,
          live: Pages.overviewLive(overview, links: links), liveSource: "/parts/overview"))
    }
    routes.get("/parts/overview") { request, _ in
      Responses.html(Pages.overviewLive(views.overview(), links: Responses.links(request)))
    }
    routes.get("/dashboard.js") { _, _ in
      Responses.text(Script.source, type: "text/javascript; charset=utf-8")
    }
    routes.get("/sweeps/:sweep") { request, context in
      let links = Responses.links(request)
      guard let live = views.sweepLive(try context.parameters.require("sweep"), links: links) else {
        return Responses.notFound("no such sweep")
      }
      return Responses.html(
        Pages.page(
          title: "trac-sweep: \(live.sweep.name)", links: links, live: live.html,
          liveSource: "/parts/sweeps/\(live.sweep.id)",
          extra: Pages.reportSlot(sweep: live.sweep.id, links: links)))
    }
    routes.get("/parts/sweeps/:sweep") { request, context in
      let links = Responses.links(request)
      guard let live = views.sweepLive(try context.parameters.require("sweep"), links: links) else {
        return Responses.notFound("no such sweep")
      }
      return Responses.html(live.html)
    }
    routes.get("/sweeps/:sweep/report") { _, context in
      guard let report = views.report(try context.parameters.require("sweep")) else {
        return Responses.notFound("no such sweep")
      }
      return Responses.html(report)
    }
    routes.get("/runs/:run") { request, context in
      let runID = try context.parameters.require("run")
      let links = Responses.links(request)
      return Responses.html(
        Pages.page(
          title: "trac-sweep: run \(runID)", links: links, live: views.runPage(runID, links: links),
          liveSource: "/parts/runs/\(runID)"))
    }
    routes.get("/parts/runs/:run") { request, context in
      Responses.html(views.runPage(try context.parameters.require("run"), links: Responses.links(request)))
    }
    return routes
  }
}
