// Progressive enhancement for the demo forms: make sure the page holds a
// form token fit to send, submit with fetch() and show the handler's JSON
// errors beside the fields.  Without JavaScript the forms post normally
// (the server renders the token into the page) and the handler answers
// with pages.
"use strict";
document.querySelectorAll("form[action^='/submit/']").forEach(function (form) {
  var summary = form.querySelector("[data-summary]");
  var tokenInput = form.querySelector("input[name='_token']");
  var name = form.getAttribute("action").replace("/submit/", "");
  // A token is refused younger than minAge or older than maxAge seconds
  // (the handler's defaults until /token says).  Its age is measured on
  // this page's clock from when it arrived, so a wrong clock does no harm.
  var minAge = 3, maxAge = 86400, tokenAt = Date.now();

  function later(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }
  function refreshToken() {
    if (!tokenInput) return Promise.resolve();
    return fetch("/token/" + encodeURIComponent(name), { cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error("token: HTTP " + r.status);
        return r.json();
      })
      .then(function (j) {
        if (!j.token) throw new Error("token: none in the answer");
        tokenInput.value = j.token;
        tokenAt = Date.now();
        if (j.min_age >= 0) minAge = j.min_age;
        if (j.max_age > 0) maxAge = j.max_age;
      });
  }
  // Before sending: a token about to expire (the page sat open) is
  // replaced, and a token too young for a person is waited out, so that
  // the order goes to the inbox and not to the spam folder.
  function tokenReady() {
    if (!tokenInput) return Promise.resolve();
    var age = (Date.now() - tokenAt) / 1000;
    if (age > maxAge - Math.min(60, maxAge / 2))
      return refreshToken().then(function () { return later(minAge * 1000 + 300); });
    if (age < minAge) return later((minAge - age) * 1000 + 300);
    return Promise.resolve();
  }
  // The ages of this form, and a token for a page served without one.
  refreshToken().catch(function () {
    if (tokenInput.value === "" || tokenInput.value.indexOf("{{") === 0)
      show("The form could not get ready. Please check your connection and reload the page.");
  });

  function clear() {
    form.querySelectorAll(".error").forEach(function (e) { e.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (e) {
      e.removeAttribute("aria-invalid");
      e.removeAttribute("aria-describedby");
    });
    summary.hidden = true;
  }
  // rows: for a field of a row group, the row (1, 2, ...) its error is in.
  function show(message, fields, rows) {
    summary.textContent = message;
    summary.hidden = false;
    Object.keys(fields || {}).forEach(function (field) {
      var inputs = form.querySelectorAll("[name='" + CSS.escape(field) + "']");
      var row = (rows && rows[field]) || 1;
      var input = inputs[row - 1] || inputs[0];
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
  // An answer that is not the handler's JSON: a web server's own page.
  function notJson(r) {
    var wait = parseInt(r.headers.get("Retry-After"), 10);
    var when = wait > 0 ? " in " + (wait < 120 ? wait + " seconds" :
      Math.ceil(wait / 60) + " minutes") : " in a few minutes";
    if (r.status === 413)
      return "The form is too large to send. Please make the attachment smaller.";
    if (r.status === 429)
      return "Too many forms were sent from your network. Please try again" + when + ".";
    return "The shop could not take the form just now (error " + r.status +
      "). What you typed is still here: please try again" + when + ".";
  }
  function send(retried) {
    var body = form.enctype === "multipart/form-data" ?
      new FormData(form) : new URLSearchParams(new FormData(form));
    return fetch(form.action, { method: "POST", body: body,
        headers: { "Accept": "application/json" } })
      .then(function (r) {
        var type = r.headers.get("Content-Type") || "";
        if (type.indexOf("application/json") !== 0)
          return { ok: false, error: notJson(r) };
        return r.json();
      })
      .then(function (j) {
        if (j.ok) {
          location.href = "/thanks.html?id=" + encodeURIComponent(j.id);
          return;
        }
        // The token was refused (expired, too young, from an old page):
        // nothing was delivered, so take a new one and send once more.
        if (j.fields && j.fields._token && !retried)
          return refreshToken().then(tokenReady).then(function () {
            return send(true);
          });
        show(j.error, j.fields, j.rows);
      });
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    clear();
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;    // a double click sends once; the token makes sure
    tokenReady()
      .then(function () { return send(false); })
      .catch(function () {
        show("The form could not be sent. Please check your connection and try again.");
      })
      .finally(function () { button.disabled = false; });
  });
});
