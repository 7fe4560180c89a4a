// Place autocomplete (ARIA combobox): suggestions from /communes/autocomplete as the person
// types; arrows move, Enter or a click/tap chooses, Escape closes. Works without this
// script too: the server resolves what was typed, and when it is ambiguous or misspelt it
// offers buttons under the field ("Vouliez-vous dire …"), which this script makes fill it.
(function () {
  "use strict";
  var counter = 0;
  var LABEL = /(\((\d{5}|\d{2})\)| \u2014 .+)$/;

  function setup(input) {
    var id = input.id || ("commune-" + (++counter));
    var scope = input.getAttribute("data-commune-autocomplete") === "lot" ? "lot" : "all";
    var list = document.createElement("ul");
    list.id = id + "-listbox";
    list.className = "lc-listbox";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", "Communes proposées");
    list.hidden = true;
    var status = document.createElement("p");
    status.className = "fr-sr-only";
    status.setAttribute("aria-live", "polite");
    input.insertAdjacentElement("afterend", list);
    list.insertAdjacentElement("afterend", status);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", list.id);
    if (input.parentElement) { input.parentElement.classList.add("lc-combobox"); }

    var items = [];
    var active = -1;
    var timer = null;
    var sequence = 0;
    var lastQuery = null;

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }
    function highlight(index) {
      var options = list.querySelectorAll("[role=option]");
      if (!options.length) { return; }
      active = (index + options.length) % options.length;
      options.forEach(function (o, i) { o.setAttribute("aria-selected", i === active ? "true" : "false"); });
      input.setAttribute("aria-activedescendant", options[active].id);
      options[active].scrollIntoView({ block: "nearest" });
    }
    function choose(index) {
      var item = items[index];
      if (!item) { return; }
      input.value = item.label;
      close();
      lastQuery = item.label;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }
    function render(data) {
      items = data;
      while (list.firstChild) { list.removeChild(list.firstChild); }
      active = -1;
      if (!data.length) {
        status.textContent = "Aucune commune proposée.";
        close();
        return;
      }
      data.forEach(function (c, i) {
        var option = document.createElement("li");
        option.id = list.id + "-" + i;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.className = "lc-listbox__option";
        option.setAttribute("data-value", c.label);
        var name = document.createElement("span");
        name.className = "lc-listbox__label";
        name.textContent = c.label;
        var detail = document.createElement("span");
        detail.className = "lc-listbox__detail" + (c.in_lot ? "" : " lc-listbox__detail--outside");
        detail.textContent = c.detail;
        option.appendChild(name);
        option.appendChild(detail);
        option.addEventListener("mousedown", function (e) { e.preventDefault(); });
        option.addEventListener("click", function () { choose(i); });
        list.appendChild(option);
      });
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      status.textContent = data.length + (data.length > 1 ? " communes proposées" : " commune proposée")
        + ", flèches pour choisir, Entrée pour valider.";
    }
    function lookup(query) {
      var mine = ++sequence;
      fetch("/communes/autocomplete?limit=8&scope=" + scope + "&q=" + encodeURIComponent(query), {
        headers: { "Accept": "application/json" }, credentials: "same-origin"
      }).then(function (r) { return r.ok ? r.json() : []; })
        .then(function (data) { if (mine === sequence && document.activeElement === input) { render(data); } })
        .catch(function () { /* offline: the server still resolves names */ });
    }

    input.addEventListener("input", function () {
      var query = input.value.trim();
      clearTimeout(timer);
      // a complete label ("Cahors (46000)", "Brive-la-Gaillarde (19)", "Cœur de Causse — Vaillac")
      // is already a choice: nothing to suggest
      if (query.length < 2 || LABEL.test(query)) { sequence++; close(); return; }
      if (query === lastQuery) { return; }
      timer = setTimeout(function () { lastQuery = query; lookup(query); }, 120);
    });
    input.addEventListener("keydown", function (e) {
      var open = !list.hidden;
      if (e.key === "ArrowDown") {
        e.preventDefault();
        if (!open && items.length) { list.hidden = false; input.setAttribute("aria-expanded", "true"); }
        highlight(active + 1);
      } else if (e.key === "ArrowUp") {
        if (!open) { return; }
        e.preventDefault();
        highlight(active - 1);
      } else if (e.key === "Enter") {
        if (open && active >= 0) { e.preventDefault(); choose(active); }
      } else if (e.key === "Escape") {
        if (open) { e.preventDefault(); close(); }
      }
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
  }

  document.querySelectorAll("[data-commune-autocomplete]").forEach(setup);

  // "Vouliez-vous dire …" buttons under a field: fill it with the chosen place
  document.querySelectorAll("[data-commune-pick]").forEach(function (button) {
    button.addEventListener("click", function () {
      var input = document.getElementById(button.getAttribute("data-commune-pick"));
      if (!input) { return; }
      input.value = button.getAttribute("data-value");
      input.dispatchEvent(new Event("change", { bubbles: true }));
      var group = button.closest(".lc-suggestions");
      if (group) { group.hidden = true; }
      input.focus();
    });
  });
})();
