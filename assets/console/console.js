// umsgate console: small conveniences only; every page works without this file.
// - A <select class="autosubmit"> submits its form when changed.
// - A form's submit buttons are disabled once it is sent, so a double click sends once.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("select.autosubmit").forEach(function (select) {
    select.addEventListener("change", function () {
      if (select.form) {
        select.form.requestSubmit();
      }
    });
  });
  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        // After this event: the button's own value is still sent.
        setTimeout(function () { button.disabled = true; }, 0);
      });
    });
  });
});
