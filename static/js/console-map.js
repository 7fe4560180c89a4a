// Request map for operators: the passenger's pickup and drop-off, every candidate's tour
// in stop order (origin → every stop of the run, this passenger's included → destination),
// the focused candidate highlighted. Vector
// layers only, so points and lines show even when the tile server cannot be reached.
(function () {
  "use strict";
  var el = document.getElementById("map");
  if (!el || typeof L === "undefined") { return; }
  var pickup = JSON.parse(el.getAttribute("data-pickup"));
  var dropoff = JSON.parse(el.getAttribute("data-dropoff"));
  var routes = JSON.parse(el.getAttribute("data-routes") || "[]");
  var map = L.map(el, { scrollWheelZoom: false });
  var tiles = el.getAttribute("data-tiles");
  if (tiles) { L.tileLayer(tiles, { maxZoom: 17, attribution: "© OpenStreetMap" }).addTo(map); }
  var bounds = L.latLngBounds([pickup, dropoff]);
  var ends = L.layerGroup().addTo(map);
  var lines = routes.map(function (r) {
    var path = r;
    path.forEach(function (p) { bounds.extend(p); });
    // smoothFactor 0: never simplify a stop away from the tour
    return L.polyline(path, { color: "#6a6af4", weight: 2, opacity: 0.35, dashArray: "4 4", smoothFactor: 0 }).addTo(map);
  });
  L.polyline([pickup, dropoff], { color: "#000091", weight: 4 }).addTo(map);
  L.circleMarker(pickup, { radius: 9, color: "#000091", fillColor: "#18753c", fillOpacity: 1 })
    .addTo(map).bindTooltip("Prise en charge", { permanent: true, direction: "left" });
  L.circleMarker(dropoff, { radius: 9, color: "#000091", fillColor: "#ce0500", fillOpacity: 1 })
    .addTo(map).bindTooltip("Arrivée", { permanent: true, direction: "right" });
  map.fitBounds(bounds.pad(0.15));
  function highlight(index) {
    lines.forEach(function (line, i) {
      line.setStyle(i === index ? { opacity: 1, weight: 4, dashArray: null, color: "#000091" }
                                : { opacity: 0.35, weight: 2, dashArray: "4 4", color: "#6a6af4" });
      if (i === index) { line.bringToFront(); }
    });
    ends.clearLayers();
    var r = routes[index];
    L.circleMarker(r[0], { radius: 6, color: "#000091", fillColor: "#fff", fillOpacity: 1 })
      .bindTooltip("Départ du conducteur", { direction: "top" }).addTo(ends);
    r.slice(1, r.length - 1).forEach(function (p) {
      L.circleMarker(p, { radius: 4, color: "#000091", fillColor: "#fff", fillOpacity: 1 }).addTo(ends);
    });
    L.circleMarker(r[r.length - 1], { radius: 6, color: "#000091", fillColor: "#000091", fillOpacity: 1 })
      .bindTooltip("Destination du conducteur", { direction: "bottom" }).addTo(ends);
  }
  document.querySelectorAll(".candidate").forEach(function (item) {
    var index = parseInt(item.getAttribute("data-index"), 10);
    item.addEventListener("mouseenter", function () { highlight(index); });
    item.addEventListener("focusin", function () { highlight(index); });
  });
  if (lines.length) { highlight(0); }
})();
