"""The HTML report's stylesheet, inlined into the page (the report fetches nothing)."""

CSS = """
:root {
  --ink: #1f2328; --muted: #59636e; --rule: #d0d7de; --paper: #ffffff; --band: #f6f8fa;
  --fail: #c51b1b; --fail-bg: #fdecec; --pass: #1a7f37; --pass-bg: #e9f7ee;
  --warn: #9a6700; --warn-bg: #fff8c5; --regulated: #b35806; --regulated-bg: #fde0c5;
  --standard: #2c5d9b; --standard-bg: #dbe7f5; --unknown: #6a3d9a;
}
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; color: var(--ink); background: var(--paper);
  font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--rule); }
h3 { font-size: 15px; margin: 18px 0 6px; }
p { margin: 6px 0; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.muted { color: var(--muted); }
.small { font-size: 12px; }
nav.contents { margin: 14px 0; padding: 8px 12px; background: var(--band); border-radius: 6px; }
nav.contents a { margin-right: 14px; color: var(--standard); text-decoration: none; }
.verdict { display: inline-block; padding: 8px 14px; border-radius: 6px; font-weight: 700;
  font-size: 16px; margin: 10px 0; }
.verdict.failed { color: var(--fail); background: var(--fail-bg); border: 2px solid var(--fail); }
.verdict.passed { color: var(--pass); background: var(--pass-bg); border: 2px solid var(--pass); }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid var(--rule); padding: 5px 7px; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
thead th { background: var(--band); font-weight: 600; }
td.nowrap, td.site-name { white-space: nowrap; overflow-wrap: normal; }
table.meta th { width: 22%; background: var(--band); }
tr.violating td { background: var(--fail-bg); }
tr.violating td.site-name { border-left: 5px solid var(--fail); font-weight: 700; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 11px;
  font-weight: 700; letter-spacing: .02em; white-space: nowrap; border: 1px solid transparent; }
.badge.pass { color: var(--pass); background: var(--pass-bg); border-color: var(--pass); }
.badge.fail, .badge.violation, .badge.expired-waiver, .badge.expired, .badge.new
  { color: var(--fail); background: var(--fail-bg); border-color: var(--fail); }
.badge.warn, .badge.not-evaluated, .badge.updated, .badge.expiring
  { color: var(--warn); background: var(--warn-bg); border-color: var(--warn); }
.badge.waived, .badge.active, .badge.unchanged, .badge.resolved
  { color: var(--standard); background: var(--standard-bg); border-color: var(--standard); }
.badge.nothing-to-check, .badge.disabled, .badge.unmatched
  { color: var(--unknown); background: #f1eaf5; border-color: var(--unknown); }
.badge.regulated { color: var(--regulated); background: var(--regulated-bg); border-color: var(--regulated); }
.badge.standard { color: var(--standard); background: var(--standard-bg); border-color: var(--standard); }
.badge.unknown { color: var(--unknown); background: #f1eaf5; border-color: var(--unknown); }
figure.map { margin: 8px 0; padding: 10px; border: 1px solid var(--rule); border-radius: 6px; }
figure.map svg { width: 100%; height: auto; max-height: 760px; }
figure.map figcaption { font-size: 12px; color: var(--muted); margin-top: 6px; }
.legend span { display: inline-block; margin-right: 14px; }
.swatch { display: inline-block; width: 12px; height: 12px; border: 2px solid; border-radius: 3px;
  vertical-align: -2px; margin-right: 4px; }
.notice { padding: 8px 12px; border-left: 5px solid var(--warn); background: var(--warn-bg);
  margin: 8px 0; }
.notice.bad { border-color: var(--fail); background: var(--fail-bg); }
article.control { border: 1px solid var(--rule); border-radius: 6px; padding: 4px 12px 6px;
  margin: 10px 0; }
article.control.fail { border-left: 5px solid var(--fail); }
article.control.nothing-to-check { border-left: 5px solid var(--unknown); }
article.site-storage { border: 1px solid var(--rule); border-left: 5px solid var(--regulated);
  border-radius: 6px; padding: 4px 12px; margin: 10px 0; }
.signoff td { height: 42px; }
footer { margin-top: 32px; font-size: 12px; color: var(--muted); }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { font-size: 11px; }
  main { max-width: none; padding: 0; }
  nav.contents { display: none; }
  h2 { break-after: avoid; }
  tr, article.control, article.site-storage, figure.map, .signoff { break-inside: avoid; }
  figure.map svg { max-height: 170mm; }
  a { color: inherit; text-decoration: none; }
}
"""
