// Allure 3 configuration of the conformance suite (the report generator is pinned in
// tools/allure/package.json; install it with `npm ci --prefix tools/allure --no-audit --no-fund`).
//
// `python -m conformance.report allure-html` (and `pytest --allure-html`) import this file from a
// generated config that sets the output, the history file and the report name per run; used on its
// own (`tools/allure/node_modules/.bin/allure generate reports/allure-results`) it renders the raw
// results, where a known deviation is still an xfail (status "skipped", so the overview reads 100 %).
//
// Categories have one source of truth: conformance/harness/allure/categories.json (the Allure 2
// format, also copied into allure-results for Allure 2). Allure 2 regexes are full-match Java ones
// with a leading (?s); Allure 3 matches partially with JS regexes, so the (?s) becomes the "s" flag.
// The first matching category wins; Allure appends its own "Product errors"/"Test errors" after ours.
import { readFileSync } from "node:fs";

const template = JSON.parse(
  readFileSync(new URL("./conformance/harness/allure/categories.json", import.meta.url), "utf8"),
);
const re = (s) => new RegExp(s.replace(/^\(\?s\)/, ""), "s");

export const categories = template.map((c) => ({
  name: c.name,
  matchers: {
    statuses: c.matchedStatuses,
    ...(c.messageRegex ? { message: re(c.messageRegex) } : {}),
    ...(c.traceRegex ? { trace: re(c.traceRegex) } : {}),
  },
  // known deviations and failures open expanded; skips stay folded
  expand: (c.matchedStatuses || []).some((s) => s !== "skipped"),
}));

export const awesomeOptions = {
  reportName: "LLM endpoint conformance",
  groupBy: ["epic", "feature", "story"],
};

export default {
  name: "LLM endpoint conformance",
  output: "./reports/allure-html",
  historyPath: "./reports/allure-history.jsonl",
  historyLimit: 30,
  categories,
  plugins: {
    awesome: { options: { ...awesomeOptions } },
  },
};
