/* Point of sale keypad: types into the amount field, which also accepts the keyboard. */
(function () {
  "use strict";
  var form = document.querySelector("[data-pos]");
  if (!form) return;
  var input = form.querySelector("#amount");
  var places = parseInt(form.dataset.places, 10) || 0;
  form.querySelectorAll("[data-key]").forEach(function (button) {
    button.addEventListener("click", function () {
      var key = button.dataset.key;
      var value = input.value;
      if (key === "back") {
        value = value.slice(0, -1);
      } else if (key === ".") {
        if (places && value.indexOf(".") < 0) value = (value || "0") + ".";
      } else {
        var dot = value.indexOf(".");
        if (dot >= 0 && value.length - dot - 1 >= places) return; // no more decimals than the currency has
        value = value === "0" ? key : value + key;
      }
      input.value = value;
    });
  });
})();
