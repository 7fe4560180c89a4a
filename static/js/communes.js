// Commune autocomplete: fills the shared <datalist> from /communes/autocomplete as the
// person types (native, keyboard-first and accessible; works without this script too:
// the server resolves what was typed and suggests communes when it is ambiguous).
(function () {
  "use strict";
  var list = document.getElementById("communes-list");
  if (!list) { return; }
  var timer = null;
  var lastQuery = "";
  function fill(items) {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    items.forEach(function (c) {
      var option = document.createElement("option");
      option.value = c.label;
      option.textContent = c.epci;
      list.appendChild(option);
    });
  }
  function lookup(query) {
    if (query === lastQuery) { return; }
    lastQuery = query;
    fetch("/communes/autocomplete?limit=8&q=" + encodeURIComponent(query), {
      headers: { "Accept": "application/json" }, credentials: "same-origin"
    }).then(function (r) { return r.ok ? r.json() : []; })
      .then(fill).catch(function () { /* offline: the server still resolves names */ });
  }
  document.querySelectorAll("[data-commune-autocomplete]").forEach(function (input) {
    input.addEventListener("input", function () {
      var query = input.value.trim();
      if (query.length < 2 || /\(\d{5}\)$/.test(query)) { return; }
      clearTimeout(timer);
      timer = setTimeout(function () { lookup(query); }, 120);
    });
  });
})();
