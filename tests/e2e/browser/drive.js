#!/usr/bin/env node
// Drives the Debian chromium (never a downloaded browser) through the
// formdrop demo pages for tests/e2e/test_browser.py.
//
//   node drive.js SPEC.json
//
// SPEC: { "scenario": "order" | "contact-error" | "contact-timed" |
//                     "contact-down" | "order-row-error" |
//                     "order-no-token" | "order-back-resend" |
//                     "order-answer-lost",
//         "rawPage": order-no-token: the page file to serve as it is,
//         "base": "http://127.0.0.1:PORT",
//         "javaScript": true | false,
//         "userDataDir": a fresh folder,
//         "artifacts": folder for screenshots,
//         "minAgeMs": wait this long after loading before submitting
//                     (the form token is refused when younger),
//         "values": { ... what to type }, "attachment": file path,
//         "sendAfterMs": contact-timed: click this long after loading }
// Prints one line of JSON with what happened (the submission id, ...).
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require("playwright-core");

const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
  "--disable-background-networking", "--disable-component-update",
  "--disable-sync", "--no-first-run",
];

async function settle(loadedAt, minAgeMs) {
  const left = loadedAt + (minAgeMs || 0) - Date.now();
  if (left > 0) await new Promise((r) => setTimeout(r, left));
}

async function order(page, spec, out) {
  const v = spec.values;
  const resp = await page.goto(spec.base + "/order.html");
  out.pageStatus = resp.status();
  const loadedAt = Date.now();
  out.token = await page.inputValue("input[name='_token']");
  await page.fill("#name", v.name);
  await page.fill("#email", v.email);
  await page.fill("#phone", v.phone);
  await page.fill("#address", v.address);
  for (let i = 0; i < v.items.length; i++) {
    await page.locator("input[name='item']").nth(i).fill(v.items[i][0]);
    await page.locator("input[name='quantity']").nth(i).fill(v.items[i][1]);
  }
  await page.fill("#notes", v.notes);
  await page.setInputFiles("#attachment", spec.attachment);
  await settle(loadedAt, spec.minAgeMs);
  await page.screenshot({ path: path.join(spec.artifacts,
    "order-form-filled.png"), fullPage: true });
  await Promise.all([
    page.waitForURL(/\/thanks\.html\?id=/, { timeout: 30000 }),
    page.click("button[type=submit]"),
  ]);
  await page.waitForFunction(
    () => document.getElementById("ref").textContent.length > 0);
  out.url = page.url();
  out.id = new URL(page.url()).searchParams.get("id");
  out.ref = await page.textContent("#ref");
  out.keepShown = await page.isVisible("#keep");
  out.heading = await page.textContent("h1");
  await page.screenshot({ path: path.join(spec.artifacts,
    "order-thanks.png"), fullPage: true });
}

async function contactError(page, spec, out) {
  const v = spec.values;
  const resp = await page.goto(spec.base + "/contact.html");
  out.pageStatus = resp.status();
  const loadedAt = Date.now();
  out.token = await page.inputValue("input[name='_token']");
  await page.fill("#name", v.name);
  await page.fill("#email", v.email);
  await page.fill("#message", v.message);
  await settle(loadedAt, spec.minAgeMs);
  const shot = path.join(spec.artifacts, spec.javaScript === false ?
    "contact-error-nojs.png" : "contact-error-js.png");
  if (spec.javaScript === false) {
    // A plain form post: the browser shows the handler's page.
    const [nav] = await Promise.all([
      page.waitForNavigation({ timeout: 30000 }),
      page.click("button[type=submit]"),
    ]);
    out.status = nav ? nav.status() : null;
    out.url = page.url();
    out.contentType = nav ? nav.headers()["content-type"] : null;
    out.text = await page.innerText("body");
    out.html = await page.content();
  } else {
    const [r] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith("/submit/contact") &&
        r.request().method() === "POST", { timeout: 30000 }),
      page.click("button[type=submit]"),
    ]);
    out.status = r.status();
    out.contentType = r.headers()["content-type"];
    out.json = await r.json();
    await page.waitForSelector("#error-email", { timeout: 10000 });
    out.url = page.url();
    out.errorEmail = await page.textContent("#error-email");
    out.errorIds = await page.$$eval(".error", (es) => es.map((e) => e.id));
    out.ariaInvalid = await page.getAttribute("#email", "aria-invalid");
    out.describedBy = await page.getAttribute("#email", "aria-describedby");
    // The error paragraph sits right after the email field.
    out.nextToEmail = await page.$eval("#email",
      (e) => e.nextElementSibling && e.nextElementSibling.id);
    out.summary = await page.textContent("[data-summary]");
    out.summaryHidden = await page.$eval("[data-summary]", (e) => e.hidden);
    out.typedKept = await page.inputValue("#message");
  }
  await page.screenshot({ path: shot, fullPage: true });
}

// The contact form sent at a set time after loading: at once (faster
// than a person: the token is too young) or after the page sat open
// (the token expired).  The page must still end on the thank-you page.
async function contactTimed(page, spec, out) {
  const v = spec.values;
  await page.goto(spec.base + "/contact.html");
  const loadedAt = Date.now();
  await page.fill("#name", v.name);
  await page.fill("#email", v.email);
  await page.fill("#message", v.message);
  const left = loadedAt + spec.sendAfterMs - Date.now();
  if (left > 0) await new Promise((r) => setTimeout(r, left));
  out.clickedAfterMs = Date.now() - loadedAt;
  await Promise.all([
    page.waitForURL(/\/thanks\.html\?id=/, { timeout: 30000 }),
    page.click("button[type=submit]"),
  ]);
  out.url = page.url();
  out.id = new URL(page.url()).searchParams.get("id");
  out.text = await page.innerText("main");
}

// The handler is down (the devserver answers 502 pages): the page says
// so in words, keeps what was typed, and throws nothing.
async function contactDown(page, spec, out) {
  const v = spec.values;
  await page.goto(spec.base + "/contact.html");
  await page.waitForSelector("[data-summary]:not([hidden])",
    { timeout: 10000 });
  out.summaryAtLoad = await page.textContent("[data-summary]");
  await page.fill("#name", v.name);
  await page.fill("#email", v.email);
  await page.fill("#message", v.message);
  // Without a token the page asks for one again before sending: that
  // request meets the 502.
  await page.click("button[type=submit]");
  await page.waitForFunction(() => /error 502/.test(
    document.querySelector("[data-summary]").textContent), null,
    { timeout: 10000 });
  out.summary = await page.textContent("[data-summary]");
  out.typedKept = await page.inputValue("#message");
  out.url = page.url();
}

// An order whose second row names an item without a quantity: the page
// lets it through (only row 1 is required there), the handler refuses
// it, and the error must sit beside row 2's quantity, not row 1's.
async function orderRowError(page, spec, out) {
  const v = spec.values;
  await page.goto(spec.base + "/order.html");
  const loadedAt = Date.now();
  await page.fill("#name", v.name);
  await page.fill("#email", v.email);
  await page.fill("#address", v.address);
  await page.locator("input[name='item']").nth(0).fill(v.items[0][0]);
  await page.locator("input[name='quantity']").nth(0).fill(v.items[0][1]);
  await page.locator("input[name='item']").nth(1).fill(v.items[1][0]);
  await settle(loadedAt, spec.minAgeMs);
  const [r] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/submit/order") &&
      r.request().method() === "POST", { timeout: 30000 }),
    page.click("button[type=submit]"),
  ]);
  out.status = r.status();
  out.json = await r.json();
  await page.waitForSelector("#error-quantity", { timeout: 10000 });
  out.invalidQuantity = await page.$$eval("input[name='quantity']",
    (es) => es.map((e) => e.getAttribute("aria-invalid") === "true"));
  out.errorAfter = await page.$eval("#error-quantity",
    (e) => [...document.querySelectorAll("input[name='quantity']")]
      .indexOf(e.previousElementSibling));
  out.errorText = await page.textContent("#error-quantity");
  out.focused = await page.evaluate(() => [...document.querySelectorAll(
    "input[name='quantity']")].indexOf(document.activeElement));
}

// Fill the order form's required fields and wait out the token's age.
async function fillOrder(page, v, loadedAt, minAgeMs) {
  await page.fill("#name", v.name);
  await page.fill("#email", v.email);
  await page.fill("#address", v.address);
  await page.locator("input[name='item']").nth(0).fill(v.items[0][0]);
  await page.locator("input[name='quantity']").nth(0).fill(v.items[0][1]);
  await settle(loadedAt, minAgeMs);
}

async function sendToThanks(page) {
  await Promise.all([
    page.waitForURL(/\/thanks\.html\?id=/, { timeout: 30000 }),
    page.click("button[type=submit]"),
  ]);
  return new URL(page.url()).searchParams.get("id");
}

// The order page as nginx serves it (a file holding the literal
// {{token}}), on a connection that loses the page's first GET /token/:
// the page must still send with a real token, or the order would go to
// the spam folder behind a thank-you page.
async function orderNoToken(page, spec, out) {
  let tokenCalls = 0;
  await page.route("**/order.html", (r) => r.fulfill({ status: 200,
    contentType: "text/html; charset=utf-8",
    body: fs.readFileSync(spec.rawPage, "utf8") }));
  await page.route("**/token/**", (r) =>
    ++tokenCalls === 1 ? r.abort() : r.continue());
  page.on("request", (q) => {
    const m = q.method() === "POST" &&
      /name="_token"\r\n\r\n([^\r]*)/.exec(q.postData() || "");
    if (m) out.postedToken = m[1];
  });
  await page.goto(spec.base + "/order.html");
  const loadedAt = Date.now();
  await page.waitForSelector("[data-summary]:not([hidden])");
  out.summaryAtLoad = await page.textContent("[data-summary]");
  await fillOrder(page, spec.values, loadedAt, spec.minAgeMs);
  out.id = await sendToThanks(page);
  out.tokenCalls = tokenCalls;
}

// Sent, then Back from the thank-you page and Send again ("did it go
// through?"): the same submission, answered with the same reference.
async function orderBackResend(page, spec, out) {
  await page.goto(spec.base + "/order.html");
  await fillOrder(page, spec.values, Date.now(), spec.minAgeMs);
  out.firstId = await sendToThanks(page);
  await page.goBack();
  await page.waitForSelector("#name");
  out.nameKept = await page.inputValue("#name");
  await settle(Date.now(), spec.minAgeMs);
  out.secondId = await sendToThanks(page);
}

// The answer to a delivered order is lost on the way; the customer, told
// the form could not be sent, changes a quantity and sends again.  The
// page must say the first one arrived (with its reference) and send the
// change only when asked again, as a new submission.
async function orderAnswerLost(page, spec, out) {
  let lost = false;
  await page.route("**/submit/order", async (r) => {
    if (lost) return r.continue();
    lost = true;
    const resp = await r.fetch();
    out.firstAnswer = await resp.json();
    await r.abort();
  });
  await page.goto(spec.base + "/order.html");
  await fillOrder(page, spec.values, Date.now(), spec.minAgeMs);
  await page.click("button[type=submit]");
  await page.waitForFunction(() => /could not be sent/.test(
    document.querySelector("[data-summary]").textContent));
  await page.locator("input[name='quantity']").nth(0).fill("5");
  const [r] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/submit/order") &&
      r.request().method() === "POST", { timeout: 30000 }),
    page.click("button[type=submit]"),
  ]);
  out.secondStatus = r.status();
  await page.waitForFunction(() => /already sent once/.test(
    document.querySelector("[data-summary]").textContent));
  out.summary = await page.textContent("[data-summary]");
  out.thirdId = await sendToThanks(page);
}

const SCENARIOS = { "order": order, "contact-error": contactError,
  "order-row-error": orderRowError, "order-no-token": orderNoToken,
  "order-back-resend": orderBackResend, "order-answer-lost": orderAnswerLost,
  "contact-timed": contactTimed, "contact-down": contactDown };

async function main() {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const run = SCENARIOS[spec.scenario];
  if (!run) throw new Error("unknown scenario " + spec.scenario);
  fs.mkdirSync(spec.artifacts, { recursive: true });
  const ctx = await chromium.launchPersistentContext(spec.userDataDir, {
    executablePath: spec.executablePath || "/usr/bin/chromium",
    headless: true,
    args: ARGS,
    javaScriptEnabled: spec.javaScript !== false,
    viewport: { width: 1024, height: 900 },
    timeout: 60000,
  });
  const out = { scenario: spec.scenario, consoleErrors: [], requests: [] };
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(30000);
    page.on("console", (m) => {
      if (m.type() === "error") out.consoleErrors.push(m.text());
    });
    page.on("pageerror", (e) => out.consoleErrors.push(String(e)));
    page.on("response", (r) => out.requests.push(
      [r.request().method(), new URL(r.url()).pathname, r.status()]));
    out.browserVersion = ctx.browser() ? ctx.browser().version() : null;
    await run(page, spec, out);
  } finally {
    await ctx.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
  process.stderr.write((e && e.stack) || String(e));
  process.stderr.write("\n");
  process.exit(1);
});
