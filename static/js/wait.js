// Forms whose answer can take a few seconds (log-in and sign-up queue for password checks when many
// people arrive at once) say so while the browser waits, and are not sent twice.
document.querySelectorAll("form[data-wait]").forEach(function (form) {
  var sent = false;
  form.addEventListener("submit", function (event) {
    if (sent) {
      event.preventDefault();
      return;
    }
    sent = true;
    var status = form.querySelector(".form-wait");
    if (status) {
      status.textContent = form.getAttribute("data-wait");
      status.hidden = false;
    }
    var button = form.querySelector("button[type=submit]");
    if (button) {
      button.setAttribute("aria-busy", "true");
    }
  });
  // Back from another page (bfcache): the form can be sent again.
  window.addEventListener("pageshow", function () {
    sent = false;
  });
});
