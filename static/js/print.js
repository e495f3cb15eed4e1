// "Print this sheet": the button is hidden until this runs, so without JavaScript nobody sees a
// button that does nothing (the sentence beside it says how to print from the browser).
(function () {
  "use strict";
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      window.print();
    });
  });
})();
