import Foundation
import Hummingbird

/// A finished run's files (`DashboardViews.runFiles` only, from the run's own folder).
struct RunFileRoutes {
  let views: DashboardViews

  var routes: RouteCollection<BasicRequestContext> {
    let routes = RouteCollection(context: BasicRequestContext.self)
    routes.get("/runs/:run/files/:name") { _, context in
      let runID = try context.parameters.require("run")
      let name = try context.parameters.require("name")
      guard DashboardViews.runFiles.contains(name), let directory = views.run(runID).folder?.directory,
        let data = FileManager.default.contents(
          atPath: URL(fileURLWithPath: directory).appendingPathComponent(name).path)
      else {
        return Responses.notFound("no such file")
      }
      var headers = HTTPFields()
      headers[.contentType] =
        name.hasSuffix(".safetensors") ? "application/octet-stream" : "application/json; charset=utf-8"
      if name.hasSuffix(".safetensors") { headers[.contentDisposition] = "attachment; filename=\"\(name)\"" }
      return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
    return routes
  }
}
