// Headless Chromium with a saved profile against formdrop-devserver, for
// test_screening.py: does a person whose browser fills forms for them (the
// browser's own autofill, or a password manager filling what it sees) get
// into the inbox, with the hidden decoy field fd_hp left empty?
//
//   node autofill.js BASE_URL PROFILE_DIR MIN_AGE_SECONDS
//
// Prints one JSON document on stdout.  Uses Debian's /usr/bin/chromium
// (CHROMIUM overrides); never downloads a browser.  playwright-core is the
// one tests/e2e/browser/package.json pins: run with
// NODE_PATH=tests/e2e/browser/node_modules (test_screening.py does).
"use strict";
const { chromium } = require("playwright-core");

const [base, profile, minAgeArg] = process.argv.slice(2);
const minAge = Number(minAgeArg || "1");
const PERSON = { name: "Ann Autofill", email: "ann.autofill@example.org" };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let retries = 0;
async function submitAndWait(page) {
  // form.js posts with fetch() and then goes to /thanks.html?id=...  A
  // failed send (form.js shows an error and stays) is sent again, as a
  // person would: the token makes the retry count once.
  for (let attempt = 0; ; attempt++) {
    try {
      await Promise.all([
        page.waitForURL(/\/thanks\.html\?id=/, { timeout: 8000 }),
        page.click("button[type=submit]"),
      ]);
      return new URL(page.url()).searchParams.get("id");
    } catch (e) {
      if (attempt >= 2) throw e;
      retries++;
      await page.waitForSelector("button[type=submit]:not([disabled])");
    }
  }
}

// What a person (and a password manager that fills only what a person
// sees) can see: rendered, with a box inside the page, not aria-hidden.
async function seenInputs(page) {
  return page.$$eval("input, textarea", (els) => els.filter((e) => {
    if (e.type === "hidden" || e.disabled) return false;
    const r = e.getBoundingClientRect();
    const s = getComputedStyle(e);
    if (r.width === 0 || r.height === 0 || s.visibility !== "visible")
      return false;
    if (e.closest("[aria-hidden='true']")) return false;
    const doc = document.documentElement;
    return r.right > 0 && r.bottom > 0 &&
      r.left < Math.max(doc.scrollWidth, innerWidth) &&
      r.top < Math.max(doc.scrollHeight, innerHeight);
  }).map((e) => e.name));
}

(async () => {
  const out = {};
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu",
      "--disable-dev-shm-usage", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    // 1. A person types name and email once: the profile keeps them.
    let page = await ctx.newPage();
    await page.goto(base + "/contact.html");
    out.rendered_token = await page.inputValue("input[name=_token]");
    const t0 = Date.now();
    await page.locator("#name").pressSequentially(PERSON.name);
    await page.locator("#email").pressSequentially(PERSON.email);
    await page.locator("#message").pressSequentially("First message, typed.");
    await sleep(Math.max(0, (minAge + 1.2) * 1000 - (Date.now() - t0)));
    out.first_hp = await page.inputValue("#fd_hp");
    out.first_id = await submitAndWait(page);
    await page.close();

    // 2. A new page: the browser's own autofill, where DevTools can drive
    // it (Autofill.trigger with an address), and a password manager that
    // fills every input a person can see.
    page = await ctx.newPage();
    await page.goto(base + "/contact.html");
    const t1 = Date.now();
    out.second_token = await page.inputValue("input[name=_token]");
    try {
      const cdp = await ctx.newCDPSession(page);
      await cdp.send("DOM.getDocument", { depth: -1 });
      const { nodeId } = await cdp.send("DOM.querySelector", {
        nodeId: (await cdp.send("DOM.getDocument")).root.nodeId,
        selector: "#name",
      });
      const { node } = await cdp.send("DOM.describeNode", { nodeId });
      await cdp.send("Autofill.trigger", {
        fieldId: node.backendNodeId,
        address: { fields: [
          { name: "NAME_FULL", value: PERSON.name },
          { name: "EMAIL_ADDRESS", value: PERSON.email },
        ] },
      });
      await sleep(500);
      out.native_autofill = {
        name: await page.inputValue("#name"),
        email: await page.inputValue("#email"),
        fd_hp: await page.inputValue("#fd_hp"),
      };
    } catch (e) {
      out.native_autofill = { error: String(e.message || e).split("\n")[0] };
    }
    out.playwright_visible = await page.locator("input:visible")
      .evaluateAll((els) => els.map((e) => e.name));
    out.seen = await seenInputs(page);
    const values = { name: PERSON.name, email: PERSON.email,
      message: "Second message, filled by the browser." };
    for (const n of out.seen) {
      const loc = page.locator(`[name="${n}"]`);
      const cur = await loc.inputValue();
      if (cur === "") await loc.fill(values[n] || PERSON.name);
    }
    if ((await page.inputValue("#message")) === "")
      await page.fill("#message", values.message);
    out.second_hp = await page.inputValue("#fd_hp");
    out.second_fields = {
      name: await page.inputValue("#name"),
      email: await page.inputValue("#email"),
      message: await page.inputValue("#message"),
    };
    await sleep(Math.max(0, (minAge + 1.2) * 1000 - (Date.now() - t1)));
    out.second_id = await submitAndWait(page);

    // 3. Back to the form, another message: the page comes back with the
    // token it was sent with, so the changed page is refused as already
    // sent (naming the second's reference), and Send again makes it a
    // new submission, not a repeat of the second one.
    await page.goBack();
    const t2 = Date.now();
    out.third_token = await page.inputValue("input[name=_token]");
    await page.fill("#message", "Third message, after going back.");
    await sleep(Math.max(0, (minAge + 1.2) * 1000 - (Date.now() - t2)));
    out.third_hp = await page.inputValue("#fd_hp");
    await page.click("button[type=submit]");
    await page.waitForFunction(() => /already sent once/.test(
      document.querySelector("[data-summary]").textContent));
    out.third_summary = await page.textContent("[data-summary]");
    out.third_id = await submitAndWait(page);
    await page.close();
  } catch (e) {
    out.error = String(e.stack || e);
  } finally {
    out.retries = retries;
    await ctx.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
})();
