// The passenger's pickup point: click on the map to set it (latitude / longitude typed in
// French decimals also move the marker). The home town hall is always drawn, so the map
// reads with no tiles; zoom buttons are labelled in French.
(function () {
  "use strict";
  var el = document.getElementById("pickup-map");
  if (!el || typeof L === "undefined") { return; }
  var lat = document.getElementById("pickup_lat");
  var lon = document.getElementById("pickup_lon");
  var home = JSON.parse(el.getAttribute("data-home"));
  var map = L.map(el, { scrollWheelZoom: false, zoomControl: false });
  L.control.zoom({ zoomInTitle: "Zoom avant", zoomOutTitle: "Zoom arrière" }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);
  var tiles = el.getAttribute("data-tiles");
  if (tiles) { L.tileLayer(tiles, { maxZoom: 18, attribution: "© OpenStreetMap" }).addTo(map); }
  L.circleMarker(home, { radius: 7, color: "#000091", fillColor: "#fff", fillOpacity: 1 })
    .addTo(map).bindTooltip("Mairie de " + el.getAttribute("data-home-name"), { permanent: true, direction: "top" });
  map.setView(home, 14);
  var marker = null;
  function num(input) {
    var v = parseFloat((input.value || "").replace(",", ".").replace(/\s/g, ""));
    return isNaN(v) ? null : v;
  }
  function fr(v) { return v.toFixed(6).replace(/0+$/, "").replace(/\.$/, "").replace(".", ","); }
  function place(p) {
    if (marker) { marker.setLatLng(p); } else {
      marker = L.circleMarker(p, { radius: 9, color: "#000091", fillColor: "#18753c", fillOpacity: 1 })
        .addTo(map).bindTooltip("Prise en charge", { permanent: true, direction: "right" });
    }
  }
  function fromInputs() {
    var a = num(lat), b = num(lon);
    if (a !== null && b !== null) { place([a, b]); }
  }
  fromInputs();
  lat.addEventListener("change", fromInputs);
  lon.addEventListener("change", fromInputs);
  map.on("click", function (e) {
    lat.value = fr(e.latlng.lat);
    lon.value = fr(e.latlng.lng);
    place(e.latlng);
  });
})();
