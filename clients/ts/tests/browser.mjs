// Drives the explorer page in headless Chromium (Debian's, through
// playwright-core) and checks it against a plan; the Rust tests that start
// the page's server write the plan (packages/cli/tests/explorer.rs and
// node.rs). Exit 0 when every check holds, else 1 with what differed.
//
//   node tests/browser.mjs PLAN.json
//
// PLAN: {
//   "url": "http://127.0.0.1:PORT/?poll=500",
//   "network": "embedded",                 // optional: pick this network
//   "graphs": [{ "graph": "TEXT", "epoch": 2, "progress": "absorb: uid 1 of 3",
//                "ranking": [{ "uid": 0, "address": "…", "stake": "…", "last_paid": "…" }] }],
//   "errors": [{ "query": "?network=custom&rpc=…", "kind": "unreachable", "text": "Cannot reach" }],
//   "screenshot": "path.png"               // optional
// }
// Each graph is picked in the page's graph list in turn; its table must list
// the ranking's peers in order with the same address, stake and last paid
// (fields the plan leaves out are not compared), and the chart must have
// one series per peer.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { chromium } from "playwright-core";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TIMEOUT = Number(process.env.EXPLORER_TIMEOUT ?? 60_000);

const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
const failures = [];
const check = (holds, what) => {
  if (!holds) failures.push(what);
};

const profile = mkdtempSync(join(tmpdir(), "agora-chromium-"));
// A fresh profile each run (Playwright passes it as --user-data-dir).
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  viewport: { width: 1240, height: 900 },
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

/** Waits until the status line is not loading; returns its kind, text and data. */
async function settled(page, wanted) {
  await page.waitForFunction(
    (wanted) => {
      const status = document.getElementById("status");
      if (!status || status.dataset.kind === "loading") return false;
      if (status.dataset.kind === "error") return true;
      return Object.entries(wanted).every(([key, value]) => status.dataset[key] === String(value));
    },
    wanted,
    { timeout: TIMEOUT },
  );
  return page.$eval("#status", (s) => ({ kind: s.dataset.kind, text: s.textContent, error: s.dataset.error }));
}

try {
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT);
  await page.goto(plan.url);
  if (plan.network) {
    await settled(page, {});
    await page.selectOption("#network", plan.network);
  }
  for (const [index, expected] of (plan.graphs ?? []).entries()) {
    if (index > 0) await page.selectOption("#graph", expected.graph);
    const wanted = { graph: expected.graph };
    if (expected.epoch !== undefined) wanted.epoch = expected.epoch;
    const status = await settled(page, wanted);
    check(status.kind === "ok", `${expected.graph}: the page says ${status.kind}: ${status.text}`);
    if (status.kind !== "ok") continue;
    // A plan without a ranking only waits for the graph (a screenshot).
    if (expected.ranking) {
      const rows = await page.$$eval("#ranking tbody tr", (rows) =>
        rows.map((row) => {
          const cells = [...row.querySelectorAll("td")].map((td) => td.textContent);
          return { uid: Number(cells[0]), address: cells[1], stake: cells[2], last_paid: cells[7] };
        }),
      );
      const want = expected.ranking.map((peer) =>
        Object.fromEntries(
          Object.entries({ uid: peer.uid, address: peer.address, stake: peer.stake, last_paid: peer.last_paid }).filter(
            ([, value]) => value !== undefined,
          ),
        ),
      );
      const got = rows.map((row, i) => Object.fromEntries(Object.keys(want[i] ?? row).map((key) => [key, row[key]])));
      check(
        JSON.stringify(got) === JSON.stringify(want),
        `${expected.graph}: the ranking table\n  shows ${JSON.stringify(got)}\n  wants ${JSON.stringify(want)}`,
      );
      const series = await page.$$eval("#chart g.series", (all) => all.map((g) => Number(g.dataset.uid)));
      check(
        JSON.stringify([...series].sort((a, b) => a - b)) ===
          JSON.stringify(expected.ranking.map((p) => p.uid).sort((a, b) => a - b)),
        `${expected.graph}: the chart has series for uids ${series}, wants one per peer`,
      );
    }
    const params = await page.$$eval("#params dd", (all) => all.length);
    check(params > 0, `${expected.graph}: no parameters shown`);
    const progress = await page.$eval('#epoch dd[data-key="paged epoch in progress"]', (dd) => dd.textContent);
    check(typeof progress === "string" && progress.length > 0, `${expected.graph}: no epoch progress shown`);
    if (expected.progress) {
      check(
        progress.includes(expected.progress),
        `${expected.graph}: the epoch in progress shows "${progress}", wants "${expected.progress}"`,
      );
    }
  }
  if (plan.screenshot) await page.screenshot({ path: plan.screenshot, fullPage: true });
  for (const expected of plan.errors ?? []) {
    const url = new URL(expected.query, plan.url).href;
    await page.goto(url);
    const status = await settled(page, {});
    check(
      status.kind === "error" && status.error === expected.kind && status.text.includes(expected.text),
      `${expected.query}: wants a ${expected.kind} error saying "${expected.text}", the page says ${status.kind}/${status.error}: ${status.text}`,
    );
    const hidden = await page.$eval("#market", (main) => main.hidden);
    check(hidden, `${expected.query}: the market stays shown under the error`);
  }
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}

if (failures.length > 0) {
  console.error(failures.map((f) => `explorer: ${f}`).join("\n"));
  process.exit(1);
}
console.log("explorer: every check holds");
