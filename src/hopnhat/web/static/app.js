// Small progressive enhancements; every page works without JavaScript.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Ask before a replay: it re-runs a record through the sync pipeline.
  document.querySelectorAll('form[action$="/replay"]').forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var lang = document.documentElement.lang;
      var question = lang === "en" ? "Replay this record?" : "Xử lý lại bản ghi này?";
      if (!window.confirm(question)) { event.preventDefault(); }
    });
  });
  // Move focus to a result or an error so keyboard and screen-reader users land on it.
  var target = document.querySelector("#lookup-result, #convert-result, [role=alert]");
  if (target) { target.setAttribute("tabindex", "-1"); target.focus(); }
});
document.addEventListener("DOMContentLoaded", function () {
  // A slip's print button (no inline script: the pages' CSP allows scripts from this site only).
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
});
