// Keyboard-first: after a search without result, put the caret in the first empty field.
(function () {
  "use strict";
  var form = document.querySelector("form[action$='/console/passagers']");
  if (!form) { return; }
  var invalid = form.querySelector("[aria-invalid=true]");
  if (invalid) { invalid.focus(); return; }
  var fields = form.querySelectorAll("input.fr-input");
  for (var i = 0; i < fields.length; i++) {
    if (!fields[i].value) { fields[i].focus(); return; }
  }
})();
