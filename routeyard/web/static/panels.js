// Each panel of the page, drawn from the API's replies. Colours are stable per key for
// the life of the page, so a model keeps its colour in every chart and across refreshes.

import { horizontalBars, legend, lineChart, stackedBars } from "./charts.js";
import * as D from "./data.js";

const PALETTE = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#86bcb6",
  "#d37295", "#8cd17d", "#499894", "#f1ce63", "#a0cbe8",
];
const QUANTILES = [
  { metric: "p50_ms", label: "p50", color: "#59a14f" },
  { metric: "p95_ms", label: "p95", color: "#f28e2b" },
  { metric: "p99_ms", label: "p99", color: "#e15759" },
];
const TOTAL_COLOR = "#1f2933";
const ALL = "(all)";
const PANELS = ["requests", "rates", "latency", "cost-tenant", "cost-model", "tiers", "models"];

const colors = new Map();
function colorFor(dim, key) {
  const id = `${dim}\u0000${key}`;
  if (!colors.has(id)) {
    const used = [...colors.keys()].filter((k) => k.startsWith(`${dim}\u0000`)).length;
    colors.set(id, PALETTE[used % PALETTE.length]);
  }
  return colors.get(id);
}

export const keyLabel = (key) => (key === "" ? "(none)" : key);

function put(id, ...nodes) {
  document.getElementById(id).replaceChildren(...nodes);
}

// Charts are drawn at their container's pixel width, so text keeps its size on any screen.
function widthOf(node) {
  return Math.max(280, Math.floor(node.clientWidth));
}

function empty(text) {
  const p = document.createElement("p");
  p.className = "empty";
  p.textContent = text;
  return p;
}

function el(tag, attrs = {}, content = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  node.textContent = content;
  return node;
}

/** Renders every panel; ``view`` holds the window, the step and the API replies. */
export function renderAll(view) {
  const { lines, summary } = view;
  const quiet = summary.rows.length === 0 && lines.series.length === 0;
  if (quiet) {
    const from = D.fmtTime(view.t0, "minute");
    const to = D.fmtTime(view.t1, "minute");
    for (const id of PANELS) put(id, empty(`No traffic between ${from} and ${to}.`));
    put("kpis");
    document.getElementById("saving").textContent = "";
    return "empty";
  }
  renderKpis(view);
  renderRequests(view);
  renderRates(view);
  renderLatency(view);
  renderCost(view, "cost-tenant", view.tenantDays, "tenant");
  renderCost(view, "cost-model", view.modelDays, "model");
  renderTiers(view);
  renderModels(view);
  return "ready";
}

function renderKpis({ summary, router }) {
  const rows = summary.rows;
  const sum = (f) => rows.reduce((acc, r) => acc + (D.num(r[f]) ?? 0), 0);
  const cost = D.decimalSum(rows.map((r) => r.cost_usd));
  const cacheSaved = D.decimalSum(rows.map((r) => r.saved_usd));
  const items = [
    ["requests", "requests", sum("requests"), D.fmtCount(sum("requests"))],
    ["calls", "provider calls", sum("calls"), D.fmtCount(sum("calls"))],
    ["error_rate", "error rate", D.ratio(sum("errors"), sum("calls")), null],
    ["fallback_rate", "fallback rate", D.ratio(sum("fallbacks"), sum("calls")), null],
    ["cost_usd", "cost", cost, D.fmtUsd(D.num(cost))],
    ["saved_usd", "saved by routing (est.)", router.saved_usd, D.fmtUsd(D.num(router.saved_usd))],
    // Hits are requests (store/queries.py): the rate's base is the requests shown.
    ["cache_hit_rate", "cache hit rate", D.ratio(sum("cache_hits"), sum("requests")), null],
    ["cache_saved_usd", "saved by the cache", cacheSaved, D.fmtUsd(D.num(cacheSaved))],
  ];
  const nodes = items.map(([key, label, value, shown]) => {
    const box = el("div", { class: "kpi", "data-kpi": key, "data-value": value ?? "" });
    box.append(
      el("span", { class: "kpi-value" }, shown ?? D.fmtPct(value)),
      el("span", { class: "kpi-label" }, label),
    );
    return box;
  });
  put("kpis", ...nodes);
}

function renderRequests({ lines, t0, t1, step }) {
  document.getElementById("requests-title").textContent = `Requests per ${step}`;
  const totals = D.sumPerBucket(lines.series, ["requests"]);
  // Counts are filled with zeros: a minute without a row had no requests.
  const totalPoints = D.bucketStarts(t0, t1, step).map((t) => {
    const v = totals.get(t)?.requests ?? 0;
    return { t, v, raw: v };
  });
  const grouped = D.byKeyAndBucket(lines.series);
  const keys = D.keysOf(lines.series, "key", "requests");
  const series = keys.map((key) => ({
    key,
    label: keyLabel(key),
    color: colorFor("model", key),
    metric: "requests",
    width: 1.1,
    points: [...grouped.get(key)].map(([t, row]) => ({
      t,
      v: D.num(row.requests) ?? 0,
      raw: row.requests,
    })),
  }));
  // Parentheses keep the total's key apart from any model's name.
  series.push({
    key: ALL,
    label: "all models",
    color: TOTAL_COLOR,
    metric: "requests",
    width: 2.4,
    points: totalPoints,
  });
  const width = widthOf(document.getElementById("requests"));
  const label = `requests per ${step}`;
  put(
    "requests",
    lineChart({ id: "requests", t0, t1, step, series, width, yFormat: D.fmtCount, label }),
    legend(series.map((s) => ({ label: s.label, color: s.color }))),
  );
}

function renderRates({ lines, t0, t1, step }) {
  const totals = D.sumPerBucket(lines.series, ["calls", "errors", "fallbacks"]);
  const ordered = [...totals].sort((a, b) => a[0] - b[0]);
  const rate = (part, key, color, label, dash) => ({
    key,
    label,
    color,
    dash,
    metric: key,
    points: ordered.map(([t, c]) => ({
      t,
      v: D.ratio(c[part], c.calls),
      attrs: { [`data-${part}`]: c[part], "data-calls": c.calls },
    })),
  });
  const series = [
    // Errors drawn last, on top: when the two coincide, the error rate stays visible.
    rate("fallbacks", "fallback_rate", "#4e79a7", "fallback rate (fallback calls / calls)", "5 3"),
    rate("errors", "error_rate", "#e15759", "error rate (errors / calls)"),
  ];
  if (!series.some((s) => s.points.some((p) => p.v !== null))) {
    put("rates", empty("No completed provider calls in this range."));
    return;
  }
  const width = widthOf(document.getElementById("rates"));
  put(
    "rates",
    lineChart({ id: "rates", t0, t1, step, series, width, yFormat: D.fmtPct, label: "rates" }),
    legend(series.map((s) => ({ label: s.label, color: s.color, dash: s.dash }))),
  );
}

function renderLatency({ lines, t0, t1, step }) {
  const grouped = D.byKeyAndBucket(lines.series);
  const models = D.keysOf(lines.series, "key", "successes").filter((key) =>
    [...grouped.get(key).values()].some((row) => D.num(row.p50_ms) !== null),
  );
  if (models.length === 0) {
    put("latency", empty("No successful calls in this range."));
    return;
  }
  const grid = el("div", { class: "multiples" });
  put("latency", legend(QUANTILES.map((q) => ({ label: q.label, color: q.color }))), grid);
  for (const model of models) {
    const rows = [...grouped.get(model)];
    const series = QUANTILES.map((q) => ({
      key: model,
      label: `${keyLabel(model)} ${q.label}`,
      color: q.color,
      metric: q.metric,
      points: rows.map(([t, row]) => ({ t, v: D.num(row[q.metric]), raw: row[q.metric] })),
    }));
    const cell = el("figure", { class: "multiple", "data-series": model });
    cell.append(el("figcaption", {}, keyLabel(model)));
    grid.append(cell); // in the page first: its width is the grid column's
    const width = widthOf(cell);
    const chart = { id: "latency", t0, t1, step, series, width, height: 170 };
    cell.append(lineChart({ ...chart, yFormat: D.fmtMs, label: `latency of ${model}` }));
  }
}

function renderCost({ t0, t1 }, id, reply, dim) {
  const bands = D.bucketStarts(t0, t1, "day");
  const grouped = D.byKeyAndBucket(reply.series);
  const keys = D.keysOf(reply.series, "key", "cost_usd");
  const series = keys.map((key) => ({
    key,
    label: keyLabel(key),
    color: colorFor(dim, key),
    metric: "cost_usd",
    values: new Map(
      [...grouped.get(key)].map(([t, row]) => [
        t,
        { v: D.num(row.cost_usd) ?? 0, raw: row.cost_usd, display: `$${row.cost_usd}` },
      ]),
    ),
  }));
  // Keys without cost (failed calls only, free local models) would be legend entries
  // with nothing drawn.
  const paid = series.filter((s) => [...s.values.values()].some((c) => c.v > 0));
  if (paid.length === 0) {
    put(id, empty("No cost in this range."));
    return;
  }
  const width = widthOf(document.getElementById(id));
  const label = `cost per ${dim} per day`;
  put(
    id,
    stackedBars({ id, bands, step: "day", series: paid, width, yFormat: D.fmtUsd, label }),
    legend(paid.map((s) => ({ label: s.label, color: s.color }))),
  );
}

function renderTiers({ router }) {
  const byTier = new Map();
  for (const row of router.tiers) {
    if (!byTier.has(row.tier)) byTier.set(row.tier, []);
    byTier.get(row.tier).push(row);
  }
  const rows = [...byTier].map(([tier, items]) => {
    const total = items.reduce((acc, r) => acc + r.requests, 0);
    const share = items.reduce((acc, r) => acc + (D.num(r.share) ?? 0), 0);
    return {
      key: tier,
      label: keyLabel(tier),
      total: `${D.fmtCount(total)} · ${D.fmtPct(share)}`,
      segments: items.map((r) => ({
        key: r.model,
        label: keyLabel(r.model),
        color: colorFor("model", r.model),
        v: r.requests,
        raw: r.requests,
        share: D.num(r.share),
        attrs: { "data-share": r.share },
      })),
    };
  });
  const saving = document.getElementById("saving");
  saving.textContent =
    `Estimated saving against sending every request to its route's most expensive model: ` +
    `${D.fmtUsd(D.num(router.saved_usd))} (${D.fmtPct(D.num(router.saved_share))}); paid ` +
    `${D.fmtUsd(D.num(router.cost_usd))}, would have been ` +
    `${D.fmtUsd(D.num(router.cost_if_strongest_usd))}. ` +
    `An estimate: it assumes the strong model would have used the same tokens.` +
    (router.warnings?.length ? ` Note: ${router.warnings.join("; ")}.` : "") +
    (router.unpriced?.length
      ? ` ${router.unpriced.length} route/model group(s) could not be priced and are left out.`
      : "");
  if (rows.length === 0) {
    put("tiers", empty("No routed requests in this range."));
    return;
  }
  const models = [...new Set(router.tiers.map((r) => r.model))];
  put(
    "tiers",
    horizontalBars({
      id: "tiers",
      rows,
      width: widthOf(document.getElementById("tiers")),
      metric: "requests",
      label: "requests per tier and model",
      format: (seg) => `${D.fmtCount(seg.v)} requests (${D.fmtPct(seg.share)})`,
    }),
    legend(models.map((m) => ({ label: keyLabel(m), color: colorFor("model", m) }))),
  );
}

const MODEL_COLUMNS = [
  ["requests", "requests", D.fmtCount],
  ["calls", "calls", D.fmtCount],
  ["errors", "errors", D.fmtCount],
  ["error_rate", "error rate", D.fmtPct],
  ["fallback_rate", "fallback rate", D.fmtPct],
  ["p50_ms", "p50", D.fmtMs],
  ["p95_ms", "p95", D.fmtMs],
  ["p99_ms", "p99", D.fmtMs],
  ["input_tokens", "input tok", D.fmtCount],
  ["output_tokens", "output tok", D.fmtCount],
  ["cost_usd", "cost", D.fmtUsd],
];

function renderModels({ summary }) {
  const table = el("table", { class: "models" });
  const head = el("tr");
  head.append(el("th", {}, "model"), ...MODEL_COLUMNS.map(([, label]) => el("th", {}, label)));
  table.append(head);
  const requests = (row) => D.num(row.requests) ?? 0;
  const rows = [...summary.rows].sort((a, b) => requests(b) - requests(a));
  for (const row of rows) {
    const tr = el("tr", { "data-series": row.model ?? "" });
    const name = el("td", {}, keyLabel(row.model ?? ""));
    const color = colorFor("model", row.model ?? "");
    name.prepend(el("span", { class: "swatch", style: `background:${color}` }));
    tr.append(name);
    for (const [field, , format] of MODEL_COLUMNS) {
      const cell = { "data-metric": field, "data-value": row[field] ?? "" };
      tr.append(el("td", cell, format(D.num(row[field]))));
    }
    table.append(tr);
  }
  put("models", table);
}
