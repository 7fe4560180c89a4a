// Shows only the fields of the chosen trip kind (both stay visible without JavaScript).
// The shown fields always follow the radio that is actually checked: on load, on each
// change, and when the browser restores the page from its history (Back), which may
// restore the radios' state without re-running this script.
(function () {
  "use strict";
  var form = document.getElementById("offer-form");
  if (!form) { return; }
  function update() {
    var checked = form.querySelector("input[name=kind]:checked");
    var kind = checked ? checked.value : "regular";
    form.querySelectorAll("fieldset[data-kind]").forEach(function (fs) {
      var hidden = fs.getAttribute("data-kind") !== kind;
      fs.hidden = hidden;
      // a hidden fieldset's fields are not submitted: only the chosen kind is sent
      fs.disabled = hidden;
    });
  }
  form.querySelectorAll("input[name=kind]").forEach(function (r) {
    r.addEventListener("change", update);
    r.addEventListener("input", update);
  });
  window.addEventListener("pageshow", update);
  window.addEventListener("load", update);
  document.addEventListener("DOMContentLoaded", update);
  update();
})();
