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

  // An error whose message is fit to show as it is.
  function Said(message) { this.message = message; }
  function later(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }
  function refreshToken() {
    if (!tokenInput) return Promise.resolve();
    return fetch("/token/" + encodeURIComponent(name), { cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Said(notJson(r));
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
  // A page served as a file holds the placeholder; one whose first
  // fetch failed holds nothing usable either.
  function hasToken() {
    return tokenInput.value !== "" && tokenInput.value.indexOf("{{") !== 0;
  }
  // Before sending: a missing token is fetched (else the order would go
  // to the spam folder behind a thank-you page), a token about to expire
  // (the page sat open) is replaced, and a token too young for a person
  // is waited out.
  function tokenReady() {
    if (!tokenInput) return Promise.resolve();
    var age = (Date.now() - tokenAt) / 1000;
    if (!hasToken() || age > maxAge - Math.min(60, maxAge / 2))
      return refreshToken().then(function () { return later(minAge * 1000 + 300); });
    if (age < minAge) return later((minAge - age) * 1000 + 300);
    return Promise.resolve();
  }
  // Back from the thank-you page the browser shows this page again with
  // what was typed: it must hold the token already sent, so that Send
  // again is answered with the same reference instead of delivering a
  // second order.  That token is kept with this page's own entry in the
  // tab's history, so that another visit to the form never takes it.
  // Otherwise: the ages of this form, and a token for a page served
  // without one.
  var sentToken = null;
  try {
    var nav = performance.getEntriesByType("navigation")[0];
    if (nav && nav.type === "back_forward" && history.state)
      sentToken = history.state.formdropSent || null;
  } catch (e) { /* an old browser: a new token, as before */ }
  if (tokenInput && sentToken) {
    tokenInput.value = sentToken;
    tokenAt = Date.now() - minAge * 1000;
  } else refreshToken().catch(function () {
    if (!hasToken())
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
          try {
            if (tokenInput)
              history.replaceState({ formdropSent: tokenInput.value }, "");
          } catch (e) { /* Back then takes a new token */ }
          location.href = "/thanks.html?id=" + encodeURIComponent(j.id);
          return;
        }
        // Sent before with other content (Back and a change, or an
        // answer lost on the way): the first one arrived.  The person
        // decides whether the change goes as a second submission: the
        // spent token is dropped, so the next Send takes a new one.
        if (j.earlier_id) {
          if (tokenInput) tokenInput.value = "";
          show("This form was already sent once (reference " + j.earlier_id +
            "). To send it with your changes as a new, separate submission, press Send again.");
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
      .catch(function (e) {
        show(e instanceof Said ? e.message :
          "The form could not be sent. Please check your connection and try again.");
      })
      .finally(function () { button.disabled = false; });
  });
});
