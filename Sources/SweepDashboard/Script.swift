/// `/dashboard.js`: fetches the page's live part again every two seconds and swaps it in (keeping
/// which `<details>` the reader opened or closed), and loads the sensitivity report into a shadow root
/// whenever its version changes. Requests go to this server only, with the page's token.
enum Script {
  static let source = """
    (function () {
      "use strict";
      var token = new URLSearchParams(window.location.search).get("token");
      var headers = token ? { "Authorization": "Bearer " + token } : {};
      var live = document.getElementById("live");
      var connection = document.getElementById("connection");
      var reportBox = document.getElementById("report");
      var reportVersion = null;
      var lastText = null;
      var toggled = {};
      function remember(root) {
        root.addEventListener("toggle", function (event) {
          var d = event.target;
          if (d && d.id) { toggled[d.id] = d.open; }
        }, true);
      }
      function restore(root) {
        root.querySelectorAll("details[id]").forEach(function (d) {
          if (Object.prototype.hasOwnProperty.call(toggled, d.id)) { d.open = toggled[d.id]; }
        });
      }
      function get(url) {
        return fetch(url, { headers: headers, cache: "no-store", credentials: "same-origin" }).then(function (r) {
          if (!r.ok) { throw new Error("HTTP " + r.status); }
          return r.text();
        });
      }
      function loadReport() {
        if (!reportBox) { return Promise.resolve(); }
        var marker = document.getElementById("report-version");
        var version = marker ? marker.getAttribute("data-version") : null;
        if (version === null || version === reportVersion) { return Promise.resolve(); }
        return get(reportBox.getAttribute("data-src")).then(function (text) {
          var doc = new DOMParser().parseFromString(text, "text/html");
          var root = reportBox.shadowRoot || reportBox.attachShadow({ mode: "open" });
          if (!reportBox.shadowRoot.__remembered) { remember(root); reportBox.shadowRoot.__remembered = true; }
          var style = doc.querySelector("style");
          root.innerHTML = (style ? "<style>" + style.textContent.replace(/\\bbody\\{/g, ".report-body{") + "</style>" : "")
            + "<div class=\\"report-body\\">" + doc.body.innerHTML + "</div>";
          restore(root);
          reportVersion = version;
        });
      }
      function refresh() {
        if (!live) { return; }
        get(live.getAttribute("data-src")).then(function (text) {
          if (text !== lastText) {
            live.innerHTML = text;
            lastText = text;
            restore(live);
          }
          connection.textContent = "live, updated " + new Date().toLocaleTimeString();
          connection.className = "connection";
          return loadReport();
        }).catch(function (error) {
          connection.textContent = "not updating: " + error.message;
          connection.className = "connection stale";
        }).then(function () { window.setTimeout(refresh, 2000); });
      }
      if (live) { remember(live); }
      loadReport().catch(function () {});
      window.setTimeout(refresh, 2000);
    })();

    """
}
