// Progressive enhancement for the demo forms: submit with fetch() and
// show the handler's JSON errors beside the fields.  Without JavaScript
// the forms post normally and the handler answers with pages.
"use strict";
document.querySelectorAll("form[action^='/submit/']").forEach(function (form) {
  var summary = form.querySelector("[data-summary]");
  function clear() {
    form.querySelectorAll(".error").forEach(function (e) { e.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (e) {
      e.removeAttribute("aria-invalid");
      e.removeAttribute("aria-describedby");
    });
    summary.hidden = true;
  }
  function show(message, fields) {
    summary.textContent = message;
    summary.hidden = false;
    Object.keys(fields || {}).forEach(function (name) {
      var input = form.querySelector("[name='" + CSS.escape(name) + "']");
      if (!input) return;
      var p = document.createElement("p");
      p.className = "error";
      p.id = "error-" + name;
      p.textContent = fields[name];
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", p.id);
      input.insertAdjacentElement("afterend", p);
    });
    var first = form.querySelector("[aria-invalid='true']");
    (first || summary).focus();
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    clear();
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    var body = form.enctype === "multipart/form-data" ?
      new FormData(form) : new URLSearchParams(new FormData(form));
    fetch(form.action, { method: "POST", body: body,
        headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (j) {
        if (j.ok) location.href = "/thanks.html?id=" + encodeURIComponent(j.id);
        else show(j.error, j.fields);
      })
      .catch(function () {
        show("The form could not be sent. Please check your connection and try again.");
      })
      .finally(function () { button.disabled = false; });
  });
});
