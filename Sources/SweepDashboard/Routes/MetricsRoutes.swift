import Hummingbird

/// `/metrics`: the Prometheus text exposition of the latest snapshot.
struct MetricsRoutes {
  let feed: CoordinatorFeed

  var routes: RouteCollection<BasicRequestContext> {
    let routes = RouteCollection(context: BasicRequestContext.self)
    routes.get("/metrics") { _, _ in
      Responses.text(PrometheusText.render(feed.snapshot), type: PrometheusText.contentType)
    }
    return routes
  }
}
