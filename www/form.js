// Progressive enhancement for the demo forms: make sure the page holds a
// form token, submit with fetch() and show the handler's JSON errors
// beside the fields.  Without JavaScript the forms post normally (the
// server renders the token into the page) and the handler answers with
// pages.
"use strict";
document.querySelectorAll("form[action^='/submit/']").forEach(function (form) {
  var summary = form.querySelector("[data-summary]");
  var tokenInput = form.querySelector("input[name='_token']");
  var name = form.getAttribute("action").replace("/submit/", "");

  function refreshToken() {
    if (!tokenInput) return Promise.resolve();
    return fetch("/token/" + encodeURIComponent(name), { cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (j) { if (j.token) tokenInput.value = j.token; });
  }
  // A page served without rendering still gets a token.
  if (tokenInput && (tokenInput.value === "" || tokenInput.value.indexOf("{{") === 0))
    refreshToken();

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
    Object.keys(fields || {}).forEach(function (field) {
      var input = form.querySelector("[name='" + CSS.escape(field) + "']");
      if (!input || input.type === "hidden") return;
      var p = document.createElement("p");
      p.className = "error";
      p.id = "error-" + field;
      p.textContent = fields[field];
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
    button.disabled = true;    // a double click sends once; the token makes sure
    var body = form.enctype === "multipart/form-data" ?
      new FormData(form) : new URLSearchParams(new FormData(form));
    fetch(form.action, { method: "POST", body: body,
        headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (j) {
        if (j.ok) {
          location.href = "/thanks.html?id=" + encodeURIComponent(j.id);
          return;
        }
        show(j.error, j.fields);
        // An expired or unusable token: get a new one; what was typed stays.
        if (j.fields && j.fields._token && j.fields._token !== "was sent too quickly")
          refreshToken();
      })
      .catch(function () {
        show("The form could not be sent. Please check your connection and try again.");
      })
      .finally(function () { button.disabled = false; });
  });
});
