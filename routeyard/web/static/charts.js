// SVG charts drawn by hand: line charts on a time axis, stacked bars per day, and
// horizontal stacked bars. Every drawn point and bar carries data attributes (chart,
// series, metric, bucket, value) so that what the page shows can be read back exactly,
// and a <title> so that hovering it shows the figure.

import { STEP_MS, fmtTick, fmtTime, isoZ, niceTicks, timeTicks } from "./data.js";

const NS = "http://www.w3.org/2000/svg";
const DEFAULT_WIDTH = 640;
const M = { top: 12, right: 14, bottom: 26, left: 58 };

export function svg(tag, attrs = {}, children = []) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  for (const child of children) node.append(child);
  return node;
}

function title(text) {
  const node = svg("title");
  node.textContent = text;
  return node;
}

function text(x, y, content, attrs = {}) {
  const node = svg("text", { x, y, ...attrs });
  node.textContent = content;
  return node;
}

function frame(width, height, label) {
  return svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    class: "chart",
    role: "img",
    "aria-label": label,
  });
}

function dataAttrs(chart, series, metric, bucket, value) {
  return {
    "data-chart": chart,
    "data-series": series,
    "data-metric": metric,
    "data-bucket": bucket,
    "data-value": value,
  };
}

function yAxis(root, ticks, y, format, width) {
  for (const tick of ticks) {
    const py = y(tick);
    root.append(
      svg("line", { x1: M.left, x2: width - M.right, y1: py, y2: py, class: "grid" }),
      text(M.left - 6, py + 4, format(tick), { class: "tick", "text-anchor": "end" }),
    );
  }
}

/**
 * A line chart over [t0, t1]. ``series``: [{key, label, color, metric, points: [{t, v, raw,
 * attrs?}], width?}]; a point with v === null, or a bucket missing between two points,
 * breaks the line (no data is not zero unless the caller filled it in).
 */
export function lineChart({ id, t0, t1, step, series, yFormat, width, height = 220, label }) {
  const W = width || DEFAULT_WIDTH;
  const root = frame(W, height, label);
  const innerW = W - M.left - M.right;
  const innerH = height - M.top - M.bottom;
  const maxV = Math.max(0, ...series.flatMap((s) => s.points.map((p) => p.v ?? 0)));
  const yTicks = niceTicks(maxV);
  const yMax = yTicks.at(-1);
  const x = (t) => M.left + ((t - t0) / Math.max(1, t1 - t0)) * innerW;
  const y = (v) => M.top + innerH - (v / yMax) * innerH;
  yAxis(root, yTicks, y, yFormat, W);

  const { ticks, spacing } = timeTicks(t0, t1, Math.max(3, Math.floor(innerW / 90)));
  for (const t of ticks) {
    root.append(
      svg("line", {
        x1: x(t),
        x2: x(t),
        y1: M.top + innerH,
        y2: M.top + innerH + 4,
        class: "axis",
      }),
      text(x(t), height - 8, fmtTick(t, spacing), { class: "tick", "text-anchor": "middle" }),
    );
  }
  root.append(svg("line", { x1: M.left, x2: W - M.right, y1: y(0), y2: y(0), class: "axis" }));

  // Points sit in the middle of their bucket (a minute's count belongs to that minute), or
  // at the range's edge for a bucket that the range cuts.
  const half = STEP_MS[step] / 2;
  const at = (t) => x(Math.min(t1, Math.max(t0, t + half)));
  for (const s of series) {
    const sorted = [...s.points].sort((a, b) => a.t - b.t);
    let d = "";
    let prev = null;
    for (const p of sorted) {
      if (p.v === null) {
        prev = null;
        continue;
      }
      const joined = prev !== null && p.t - prev.t <= STEP_MS[step];
      d += `${joined ? "L" : "M"}${at(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
      prev = p;
    }
    const group = svg("g", { class: "series", "data-series": s.key });
    group.append(
      svg("path", {
        d,
        fill: "none",
        stroke: s.color,
        "stroke-width": s.width ?? 1.6,
        "stroke-dasharray": s.dash,
      }),
    );
    for (const p of sorted) {
      if (p.v === null) continue;
      const dot = svg("circle", {
        cx: at(p.t).toFixed(1),
        cy: y(p.v).toFixed(1),
        r: sorted.length > 120 ? 1.4 : 2.6,
        fill: s.color,
        class: "point",
        ...dataAttrs(id, s.key, s.metric, isoZ(p.t), p.raw ?? p.v),
        ...p.attrs,
      });
      dot.append(title(`${s.label} · ${fmtTime(p.t, step)} · ${yFormat(p.v)}`));
      group.append(dot);
    }
    root.append(group);
  }
  return root;
}

/**
 * Stacked bars, one per bucket in ``bands`` (ms). ``series``: [{key, label, color, metric,
 * values: Map(bucketMs -> {v, raw})}], stacked bottom-up in the given order.
 */
export function stackedBars({ id, bands, step, series, yFormat, width, height = 220, label }) {
  const W = width || DEFAULT_WIDTH;
  const root = frame(W, height, label);
  const innerW = W - M.left - M.right;
  const innerH = height - M.top - M.bottom;
  const totals = bands.map((t) =>
    series.reduce((acc, s) => acc + (s.values.get(t)?.v ?? 0), 0),
  );
  const yTicks = niceTicks(Math.max(0, ...totals));
  const yMax = yTicks.at(-1);
  const y = (v) => M.top + innerH - (v / yMax) * innerH;
  yAxis(root, yTicks, y, yFormat, W);
  const band = innerW / Math.max(1, bands.length);
  const barW = Math.min(64, band * 0.7);
  const labelEvery = Math.ceil(bands.length / 10);
  bands.forEach((t, i) => {
    const cx = M.left + band * (i + 0.5);
    if (i % labelEvery === 0) {
      root.append(
        text(cx, height - 8, fmtTime(t, step).slice(5, 10), {
          class: "tick",
          "text-anchor": "middle",
        }),
      );
    }
    let base = 0;
    for (const s of series) {
      const cell = s.values.get(t);
      if (!cell || !(cell.v > 0)) continue;
      const bar = svg("rect", {
        x: (cx - barW / 2).toFixed(1),
        y: y(base + cell.v).toFixed(1),
        width: barW.toFixed(1),
        height: Math.max(0.5, y(base) - y(base + cell.v)).toFixed(1),
        fill: s.color,
        class: "bar",
        ...dataAttrs(id, s.key, s.metric, isoZ(t), cell.raw ?? cell.v),
      });
      bar.append(title(`${s.label} · ${fmtTime(t, step)} · ${cell.display ?? yFormat(cell.v)}`));
      root.append(bar);
      base += cell.v;
    }
  });
  root.append(svg("line", { x1: M.left, x2: W - M.right, y1: y(0), y2: y(0), class: "axis" }));
  return root;
}

/**
 * One horizontal stacked bar per row: ``rows``: [{key, label, segments: [{key, label,
 * color, v, raw, attrs}]}], on a common scale so that bar lengths compare.
 */
export function horizontalBars({ id, rows, metric, format, width, label }) {
  const W = width || DEFAULT_WIDTH;
  const rowH = 30;
  const left = 92;
  const right = 96;
  const height = M.top + rows.length * rowH + 8;
  const root = frame(W, height, label);
  const totals = rows.map((r) => r.segments.reduce((acc, s) => acc + s.v, 0));
  const max = Math.max(1, ...totals);
  const scale = (v) => (v / max) * (W - left - right);
  rows.forEach((row, i) => {
    const top = M.top + i * rowH;
    root.append(text(left - 8, top + 15, row.label, { class: "tick", "text-anchor": "end" }));
    let at = left;
    for (const seg of row.segments) {
      const width = scale(seg.v);
      const rect = svg("rect", {
        x: at.toFixed(1),
        y: top + 2,
        width: Math.max(0.5, width).toFixed(1),
        height: rowH - 10,
        fill: seg.color,
        class: "bar",
        ...dataAttrs(id, seg.key, metric, row.key, seg.raw ?? seg.v),
        ...seg.attrs,
      });
      rect.append(title(`${row.label} · ${seg.label} · ${format(seg)}`));
      root.append(rect);
      at += width;
    }
    root.append(text(at + 6, top + 15, row.total, { class: "tick" }));
  });
  return root;
}

/** An HTML legend: swatches with labels. */
export function legend(items) {
  const list = document.createElement("ul");
  list.className = "legend";
  for (const item of items) {
    const entry = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = item.color;
    if (item.dash) {
      swatch.classList.add("dashed");
      swatch.style.borderTopColor = item.color;
    }
    entry.append(swatch, document.createTextNode(item.label));
    list.append(entry);
  }
  return list;
}
