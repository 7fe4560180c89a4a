// Draws the statistics charts (Chart.js) from each canvas's data-chart attribute.
// The same numbers are in the table that follows each chart (the text alternative).
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") { return; }
  var Chart = window.Chart;
  Chart.defaults.font.family = "Marianne, arial, sans-serif";
  Chart.defaults.color = "#3a3a3a";
  Chart.defaults.locale = "fr-FR";
  Chart.defaults.animation = false;

  function build(canvas) {
    var spec;
    try { spec = JSON.parse(canvas.getAttribute("data-chart")); } catch (e) { return; }
    var datasets = spec.datasets.filter(function (d) { return d.chart !== false; }).map(function (d) {
      var color = d.colors || d.color;
      return { label: d.label, data: d.data, backgroundColor: color, borderColor: d.colors ? "#ffffff" : color,
               borderWidth: d.colors ? 2 : 0, maxBarThickness: 48 };
    });
    var doughnut = spec.type === "doughnut";
    var options = {
      responsive: true,
      maintainAspectRatio: false,
      indexAxis: spec.horizontal ? "y" : "x",
      plugins: {
        legend: { display: doughnut || datasets.length > 1, position: "bottom" },
        tooltip: { enabled: true }
      }
    };
    if (!doughnut) {
      var valueAxis = { stacked: spec.stacked, beginAtZero: true, ticks: { precision: 0 } };
      var labelAxis = { stacked: spec.stacked, grid: { display: false } };
      options.scales = spec.horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis };
    }
    new Chart(canvas, { type: spec.type, data: { labels: spec.labels, datasets: datasets }, options: options });
    canvas.setAttribute("data-drawn", "true");
  }

  function buildAll() { document.querySelectorAll("canvas[data-chart]").forEach(build); }
  // draw with the DSFR's Marianne font once loaded (a canvas does not redraw by itself)
  if (document.fonts && document.fonts.ready) { document.fonts.ready.then(buildAll, buildAll); } else { buildAll(); }
})();
