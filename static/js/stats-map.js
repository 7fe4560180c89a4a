// Unmet-demand map and virtual lines (Leaflet). Everything is drawn as vector layers
// (commune points, proportional circles, lines), so the map still reads when the tile
// server is unreachable; tiles are only a background (data-tile-url, may be empty).
(function () {
  "use strict";
  var el = document.getElementById("stats-map");
  if (!el || typeof window.L === "undefined") { return; }
  var L = window.L;
  var mode = el.getAttribute("data-mode") || "unmet";
  var COLORS = { origin: "#ce0500", destination: "#000091", flow: "#666666", line: "#18753c",
                 commune: "#929292", town: "#3a3a3a" };
  var LINE_COLORS = ["#18753c", "#b34000", "#6a6af4", "#a558a0", "#009081", "#c3992a", "#417dc4",
                     "#e1000f", "#716043", "#34bab5"];

  var map = L.map(el, { zoomSnap: 0.25, scrollWheelZoom: false, zoomControl: false });
  L.control.zoom({ zoomInTitle: "Zoomer", zoomOutTitle: "Dézoomer" }).addTo(map);
  L.control.scale({ metric: true, imperial: false, maxWidth: 120, position: "bottomright" }).addTo(map);
  map.attributionControl.setPrefix(false);
  var tileUrl = el.getAttribute("data-tile-url");
  if (tileUrl) {
    L.tileLayer(tileUrl, { maxZoom: 18, attribution: el.getAttribute("data-attribution") || "" }).addTo(map);
  }

  function radius(count) { return 3 + 5 * Math.sqrt(count); }  // area proportional to the count

  function text(value) { return String(value).replace(/[&<>"']/g, function (c) {
    return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
  }); }

  function plural(n, word) { return n + " " + word + (n > 1 ? "s" : ""); }

  function background(data) {
    var group = L.layerGroup();
    data.background.forEach(function (c) {
      L.circleMarker([c[0], c[1]], { radius: 2, stroke: false, fillColor: COLORS.commune, fillOpacity: 0.7,
                                      interactive: false }).addTo(group);
      if (c[3] >= 3000) {
        L.circleMarker([c[0], c[1]], { radius: 3, stroke: false, fillColor: COLORS.town, fillOpacity: 1,
                                        interactive: false })
          .bindTooltip(text(c[2]), { permanent: true, direction: "right", className: "stats-map__town",
                                     offset: [4, 0] })
          .addTo(group);
      }
    });
    return group;
  }

  function circles(communes, key, color, label) {
    var group = L.layerGroup();
    communes.filter(function (c) { return c[key] > 0; })
      .sort(function (a, b) { return b[key] - a[key]; })  // big ones below
      .forEach(function (c) {
        L.circleMarker([c.lat, c.lon], { radius: radius(c[key]), color: color, weight: 1.5,
                                          fillColor: color, fillOpacity: 0.35 })
          .bindTooltip(text(c.name) + " : " + plural(c[key], label))
          .addTo(group);
      });
    return group;
  }

  function flows(list) {
    var group = L.layerGroup();
    list.forEach(function (f) {
      L.polyline(f.path, { color: COLORS.flow, weight: 1 + 1.5 * Math.sqrt(f.count), opacity: 0.6 })
        .bindTooltip(text(f.from_name) + " → " + text(f.to_name) + " : " + plural(f.count, "demande"))
        .addTo(group);
    });
    return group;
  }

  function lines(list) {
    var group = L.layerGroup();
    list.forEach(function (line, i) {
      var color = mode === "lines" ? LINE_COLORS[i % LINE_COLORS.length] : COLORS.line;
      var tip = line.rank + ". " + text(line.label) + " : " + plural(line.requests, "demande") +
                ", " + line.unmet + " sans solution";
      var style = mode === "lines"
        ? { color: color, weight: 3 + 2 * Math.sqrt(line.requests), opacity: 0.75, lineCap: "round" }
        : { color: color, weight: 3, opacity: 0.8, dashArray: "8 6" };  // context under the circles
      L.polyline(line.path, style)
        .bindTooltip(tip, { sticky: true }).addTo(group);
      if (mode === "lines") {
        line.stops.forEach(function (s) {
          L.circleMarker([s.lat, s.lon], { radius: 3 + 2 * Math.sqrt(s.count), color: color, weight: 2,
                                            fillColor: "#ffffff", fillOpacity: 1 })
            .bindTooltip(text(s.name) + " : " + plural(s.count, "demande")).addTo(group);
        });
        var mid = [(line.path[0][0] + line.path[1][0]) / 2, (line.path[0][1] + line.path[1][1]) / 2];
        L.marker(mid, { icon: L.divIcon({ className: "stats-map__rank", html: String(line.rank),
                                          iconSize: [22, 22] }), keyboard: false, interactive: false })
          .addTo(group);
      }
    });
    return group;
  }

  function legend() {
    var control = L.control({ position: "bottomleft" });
    control.onAdd = function () {
      var div = L.DomUtil.create("div", "stats-map__legend");
      if (mode === "lines") {
        div.innerHTML = "<strong>Lignes virtuelles</strong><br>numérotées comme dans la liste";
      } else {
        div.innerHTML = "<span class='stats-swatch stats-swatch--origin'></span> départs " +
          "<span class='stats-swatch stats-swatch--destination'></span> arrivées<br>" +
          "<span class='stats-line-swatch'></span> lignes virtuelles";
      }
      return div;
    };
    control.addTo(map);
  }

  function draw(data) {
    background(data).addTo(map);
    var overlays = {};
    if (mode === "lines") {
      overlays["Lignes virtuelles"] = lines(data.lines).addTo(map);
    } else {
      overlays["Lignes virtuelles"] = lines(data.lines).addTo(map);
      overlays["Liaisons demandées"] = flows(data.flows).addTo(map);
      overlays["Arrivées"] = circles(data.communes, "destinations", COLORS.destination, "arrivée").addTo(map);
      overlays["Départs"] = circles(data.communes, "origins", COLORS.origin, "départ").addTo(map);
    }
    L.control.layers(null, overlays, { collapsed: false }).addTo(map);
    legend();
    // clear of the zoom buttons (top left), the legend (bottom left) and the scale
    if (data.bounds) { map.fitBounds(data.bounds, { paddingTopLeft: [56, 12], paddingBottomRight: [12, 32] }); }
    el.setAttribute("data-ready", "true");
  }

  map.setView([44.62, 1.6], 9);
  fetch(el.getAttribute("data-src"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
    .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
    .then(draw)
    .catch(function () {
      el.setAttribute("data-ready", "error");
      var p = document.createElement("p");
      p.className = "fr-error-text";
      p.textContent = "La carte n'a pas pu être chargée. Les chiffres restent dans les tableaux de la page.";
      el.parentNode.insertBefore(p, el.nextSibling);
    });
})();
