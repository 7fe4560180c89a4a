// Shows only the fields of the chosen trip kind (both stay visible without JavaScript).
(function () {
  "use strict";
  var form = document.getElementById("offer-form");
  if (!form) { return; }
  function update() {
    var checked = form.querySelector("input[name=kind]:checked");
    var kind = checked ? checked.value : "regular";
    form.querySelectorAll("fieldset[data-kind]").forEach(function (fs) {
      fs.hidden = fs.getAttribute("data-kind") !== kind;
    });
  }
  form.querySelectorAll("input[name=kind]").forEach(function (r) { r.addEventListener("change", update); });
  update();
})();
