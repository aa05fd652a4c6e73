/* Store page: a live cart total. Prices are summed as integers in the currency's minor unit. */
(function () {
  "use strict";
  var form = document.querySelector("[data-cart]");
  if (!form) return;
  var places = parseInt(form.dataset.places, 10) || 0;
  var scale = Math.pow(10, places);
  var total = form.querySelector("[data-total]");

  function toMinor(text) {
    var parts = String(text).split(".");
    var frac = ((parts[1] || "") + "000000000000").slice(0, places);
    return parseInt(parts[0] || "0", 10) * scale + (places ? parseInt(frac, 10) : 0);
  }
  function format(minor) {
    if (!places) return String(minor);
    var frac = String(minor % scale);
    while (frac.length < places) frac = "0" + frac;
    return Math.floor(minor / scale) + "." + frac;
  }
  function update() {
    var sum = 0;
    form.querySelectorAll("[data-product]").forEach(function (item) {
      var input = item.querySelector("input[type=number]");
      var count = input ? parseInt(input.value, 10) : 0;
      if (count > 0) sum += count * toMinor(item.querySelector("[data-price]").dataset.price);
    });
    if (total) total.textContent = format(sum);
  }
  form.addEventListener("input", update);
  update();
})();
