// Request map for operators. It must read with no tiles at all (no tile URL, or the tile
// server unreachable): everything is drawn as vector layers and text —
// - the communes around the trip (grey points and their names, data-map.communes, the most
//   populous first; a name that would cover another, a stop or a control is left out);
// - every candidate's run in stop order (data-routes: the driver's origin, every stop of the
//   run, this passenger's included, his destination), the focused one in a solid line with
//   its stops numbered 1, 2, 3… on the map and listed in the legend under the map;
// - a metric scale, zoom buttons titled in French, and the drawing fitted inside padding so
//   that no point or line lies under the controls.
(function () {
  "use strict";
  var el = document.getElementById("map");
  if (!el || typeof L === "undefined") { return; }
  var pickup = JSON.parse(el.getAttribute("data-pickup"));
  var dropoff = JSON.parse(el.getAttribute("data-dropoff"));
  var routes = JSON.parse(el.getAttribute("data-routes") || "[]");
  var info = JSON.parse(el.getAttribute("data-map") || "{}");
  var communes = info.communes || [];
  function text(value) {  // tooltips are HTML: names are escaped
    return String(value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  var tours = info.tours || [];

  var map = L.map(el, { scrollWheelZoom: false, zoomControl: false, zoomSnap: 0.25 });
  map.attributionControl.setPrefix(false);
  L.control.zoom({ zoomInTitle: "Zoomer", zoomOutTitle: "Dézoomer" }).addTo(map);
  L.control.scale({ metric: true, imperial: false, maxWidth: 120 }).addTo(map);

  // ---- legend (text, under the map): what is drawn, the focused run's stops in order ----
  var legend = document.createElement("div");
  legend.className = "console-map__legend fr-text--sm";
  legend.id = "map-legend";
  var key = document.createElement("p");
  key.className = "fr-mb-1v";
  key.textContent = routes.length
    ? "Trait plein : trajet du conducteur sélectionné, arrêts numérotés dans l'ordre ; pointillés : autres conducteurs possibles ; points gris : communes."
    : "Trait : trajet demandé ; points gris : communes.";
  var stopsList = document.createElement("ol");
  stopsList.className = "console-map__stops fr-mb-1v";
  var note = document.createElement("p");
  note.className = "console-map__note fr-mb-0";
  legend.appendChild(key);
  legend.appendChild(stopsList);
  legend.appendChild(note);
  el.insertAdjacentElement("afterend", legend);
  el.setAttribute("aria-describedby", legend.id);

  function tilesOff(text) {
    el.classList.add("console-map--no-tiles");
    note.textContent = text;
  }
  var tiles = el.getAttribute("data-tiles");
  if (tiles) {
    var layer = L.tileLayer(tiles, { maxZoom: 17, attribution: "© contributeurs OpenStreetMap" });
    layer.on("tileerror", function () {
      tilesOff("Fond de carte indisponible : communes et trajets dessinés sans lui.");
    });
    layer.addTo(map);
  } else {
    tilesOff("Pas de fond de carte : communes et trajets dessinés seuls.");
  }

  // ---- communes: points and names ----
  var bounds = L.latLngBounds([pickup, dropoff]);
  var centreLon = (pickup[1] + dropoff[1]) / 2;
  var labels = [];
  communes.forEach(function (c) {
    var at = [c[1], c[2]];
    var marker = L.circleMarker(at, { radius: 3, stroke: false, fillColor: "#666", fillOpacity: 0.9,
                                      interactive: false, className: "console-map__commune-point" }).addTo(map);
    var east = c[2] > centreLon;
    marker.bindTooltip(text(c[0]), { permanent: true, interactive: false, direction: east ? "right" : "left",
                               offset: east ? [3, 0] : [-3, 0], className: "console-map__commune" });
    labels.push(marker);
  });

  // ---- runs ----
  var lines = routes.map(function (path) {
    path.forEach(function (p) { bounds.extend(p); });
    // smoothFactor 0: never simplify a stop away from the tour
    return L.polyline(path, { color: "#6a6af4", weight: 2, opacity: 0.5, dashArray: "4 4", smoothFactor: 0 }).addTo(map);
  });
  if (!routes.length) {
    L.polyline([pickup, dropoff], { color: "#000091", weight: 4 }).addTo(map);
  }
  // the passenger's own pickup and drop-off (under their numbered stop markers)
  L.circleMarker(pickup, { radius: 8, color: "#000091", fillColor: "#18753c", fillOpacity: 1 })
    .addTo(map).bindTooltip(text(info.pickup_label || "Prise en charge"), { direction: "top" });
  L.circleMarker(dropoff, { radius: 8, color: "#000091", fillColor: "#ce0500", fillOpacity: 1 })
    .addTo(map).bindTooltip(text(info.dropoff_label || "Dépose"), { direction: "top" });

  // the runs fill the map; no stop or line under the zoom buttons (top left), the scale
  // (bottom left) or the credits, room left for the stops' labels
  map.fitBounds(bounds, { paddingTopLeft: [72, 36], paddingBottomRight: [48, 48] });

  // ---- the focused run's numbered stops ----
  var stopsLayer = L.layerGroup().addTo(map);
  function stopsOf(index) {
    if (tours[index]) { return tours[index].stops; }
    return [{ label: info.pickup_label || "Prise en charge", place: info.origin || "", lat: pickup[0], lon: pickup[1], kind: "pickup" },
            { label: info.dropoff_label || "Dépose", place: info.destination || "", lat: dropoff[0], lon: dropoff[1], kind: "dropoff" }];
  }
  function drawStops(stops) {
    stopsLayer.clearLayers();
    stopsList.textContent = "";
    var groups = [];  // stops at the same point share one marker ("3, 4")
    stops.forEach(function (s, i) {
      var item = document.createElement("li");
      item.textContent = s.label + (s.place ? " — " + s.place : "") + (s.at ? ", " + s.at : "");
      stopsList.appendChild(item);
      var same = groups.filter(function (g) {
        return Math.abs(g.lat - s.lat) < 1e-4 && Math.abs(g.lon - s.lon) < 1e-4;
      })[0];
      // on a narrow map the labels say only who and what (the legend says where)
      var words = s.label + (s.place && el.clientWidth >= 480 ? " (" + s.place + ")" : "");
      if (same) { same.numbers.push(i + 1); same.labels.push(words); return; }
      groups.push({ lat: s.lat, lon: s.lon, numbers: [i + 1], labels: [words], kind: s.kind });
    });
    var placed = [];  // what stop labels must not cover: every stop marker, the labels placed
    var markers = groups.map(function (g) {
      var numbers = g.numbers.join(", ");
      var icon = L.divIcon({ className: "console-map__stop console-map__stop--" + g.kind,
                             html: "<span>" + numbers + "</span>",
                             iconSize: [Math.max(24, 10 + 7 * numbers.length), 24] });
      var marker = L.marker([g.lat, g.lon], { icon: icon, keyboard: false, interactive: false })
        .bindTooltip(g.numbers.map(function (n, k) { return n + ". " + text(g.labels[k]); }).join("<br>"),
                     { permanent: true, interactive: false, direction: "top", offset: [0, -10],
                       className: "console-map__stop-label" })
        .addTo(stopsLayer);
      placed.push(marker.getElement().getBoundingClientRect());
      return marker;
    });
    markers.forEach(function (marker) { placeLabel(marker.getTooltip(), placed); });
    declutter();
  }

  // a stop's label goes above it, else below, right, left or aslant: where it covers no other
  // stop or label and stays inside the map (else where it covers the least)
  var PLACES = [["top", [0, -10]], ["bottom", [0, 10]], ["right", [14, 0]], ["left", [-14, 0]],
                ["left", [-10, 24]], ["right", [10, 24]], ["left", [-10, -24]], ["right", [10, -24]]];
  function placeLabel(tooltip, placed) {
    var box = el.getBoundingClientRect();
    var best = null, fallback = null, least = Infinity;
    for (var i = 0; i < PLACES.length; i++) {
      tooltip.options.direction = PLACES[i][0];
      tooltip.options.offset = L.point(PLACES[i][1]);
      tooltip.update();
      var r = tooltip.getElement().getBoundingClientRect();
      var inside = r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom;
      var covered = placed.reduce(function (sum, t) {
        return sum + Math.max(0, Math.min(r.right, t.right) - Math.max(r.left, t.left)) *
                     Math.max(0, Math.min(r.bottom, t.bottom) - Math.max(r.top, t.top));
      }, 0);
      if (covered === 0 && inside) { best = i; break; }
      if (inside && covered < least) { fallback = i; least = covered; }  // inside, covering the least
    }
    if (best === null) { best = fallback === null ? 0 : fallback; }
    tooltip.options.direction = PLACES[best][0];
    tooltip.options.offset = L.point(PLACES[best][1]);
    tooltip.update();
    placed.push(tooltip.getElement().getBoundingClientRect());
  }

  // commune points under a control, and names that would cover a stop, another name or a
  // control, are hidden
  function overlaps(a, b) {
    return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  }
  function declutter() {
    var box = el.getBoundingClientRect();
    function rects(selector) {
      return Array.prototype.map.call(el.querySelectorAll(selector), function (n) { return n.getBoundingClientRect(); });
    }
    var controls = rects(".leaflet-control");
    var taken = controls.concat(rects(".console-map__stop, .console-map__stop-label"));
    function fits(r) {
      var inside = r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom;
      return inside && !taken.some(function (t) { return overlaps(r, t); });
    }
    labels.forEach(function (marker) {
      var point = marker.getElement();
      var under = point && controls.some(function (t) { return overlaps(point.getBoundingClientRect(), t); });
      if (point) { point.classList.toggle("console-map__commune-point--hidden", under); }
      var tooltip = marker.getTooltip();
      var tip = tooltip && tooltip.getElement();
      if (!tip) { return; }
      tip.classList.remove("console-map__commune--hidden");
      var r = tip.getBoundingClientRect();
      if (!fits(r)) {  // try the other side of its point
        var right = tooltip.options.direction !== "right";
        tooltip.options.direction = right ? "right" : "left";
        tooltip.options.offset = L.point(right ? [3, 0] : [-3, 0]);
        tooltip.update();
        r = tip.getBoundingClientRect();
      }
      if (!under && fits(r)) { taken.push(r); } else { tip.classList.add("console-map__commune--hidden"); }
    });
  }
  map.on("zoomend moveend", function () { window.setTimeout(declutter, 0); });

  function highlight(index) {
    lines.forEach(function (line, i) {
      line.setStyle(i === index ? { opacity: 1, weight: 4, dashArray: null, color: "#000091" }
                                : { opacity: 0.5, weight: 2, dashArray: "4 4", color: "#6a6af4" });
      if (i === index) { line.bringToFront(); }
    });
    drawStops(stopsOf(index));
  }
  document.querySelectorAll(".candidate").forEach(function (item) {
    var index = parseInt(item.getAttribute("data-index"), 10);
    item.addEventListener("mouseenter", function () { highlight(index); });
    item.addEventListener("focusin", function () { highlight(index); });
  });
  highlight(0);
})();
