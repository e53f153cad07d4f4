import Hummingbird

/// The same numbers as JSON: the overview, and a sweep's rows as the coordinator's `report` answer.
struct APIRoutes {
  let views: DashboardViews

  var routes: RouteCollection<BasicRequestContext> {
    let routes = RouteCollection(context: BasicRequestContext.self)
    routes.get("/api/overview") { _, _ in
      try Responses.json(views.overview())
    }
    routes.get("/api/sweeps/:sweep") { _, context in
      let snapshot = views.feed.snapshot
      guard let sweep = DashboardViews.find(try context.parameters.require("sweep"), in: snapshot),
        let rows = snapshot.rows[sweep.id]
      else {
        return Responses.notFound("no such sweep, or its runs are not read yet")
      }
      return try Responses.json(rows.reply)
    }
    return routes
  }
}
