// Pure helpers: time ranges, buckets, aggregation and formatting. No DOM here, so every
// function can be reasoned about (and called from a test page) on its own.

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
export const STEP_MS = { minute: MINUTE, hour: HOUR, day: DAY };

// The relative ranges the selector offers, by the name used in the URL.
export const RANGES = {
  "15m": { span: 15 * MINUTE, label: "last 15 min" },
  "1h": { span: HOUR, label: "last 1 h" },
  "24h": { span: DAY, label: "last 24 h" },
  "7d": { span: 7 * DAY, label: "last 7 d" },
};

export class RangeChoiceError extends Error {}

export function floorTo(ms, unit) {
  return Math.floor(ms / unit) * unit;
}

/** A datetime-local value ("2024-05-01T10:00") read as UTC, in ms; NaN when malformed. */
export function parseLocalUtc(value) {
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(value || "")) return NaN;
  return Date.parse(value.length === 16 ? `${value}:00Z` : `${value}Z`);
}

/** ms -> the value a datetime-local input shows for it (UTC). */
export function toLocalUtcInput(ms) {
  return new Date(ms).toISOString().slice(0, 16);
}

/**
 * The window to ask the API for. The API floors both ends to the minute, so a relative
 * range ends at the start of the next minute: the minute in progress is included, and
 * traffic shows up while it flows rather than a minute later.
 */
export function resolveRange(choice, now, custom) {
  if (choice === "custom") {
    const since = parseLocalUtc(custom.since);
    const until = parseLocalUtc(custom.until);
    for (const [name, value] of [["since", since], ["until", until]]) {
      if (Number.isNaN(value)) {
        throw new RangeChoiceError(`custom range: '${name}' is not a date and time`);
      }
    }
    // The API floors both ends to the minute: compare what it will see.
    const start = floorTo(since, MINUTE);
    const end = floorTo(until, MINUTE);
    if (end <= start) {
      throw new RangeChoiceError("custom range: 'until' must be at least a minute after 'since'");
    }
    return { since: start, until: end, label: "custom" };
  }
  const range = RANGES[choice];
  if (!range) throw new RangeChoiceError(`unknown range '${choice}'`);
  const until = floorTo(now, MINUTE) + MINUTE;
  return { since: until - range.span, until, label: range.label };
}

/** The finest step that keeps a line chart readable over the span. */
export function autoStep(spanMs) {
  if (spanMs <= 6 * HOUR) return "minute";
  if (spanMs <= 8 * DAY) return "hour";
  return "day";
}

export function isoZ(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function parseTime(iso) {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`not a time: ${JSON.stringify(iso)}`);
  return ms;
}

/** Every bucket start from the one holding ``since`` up to before ``until``. */
export function bucketStarts(since, until, step) {
  const size = STEP_MS[step];
  const out = [];
  for (let t = floorTo(since, size); t < until; t += size) out.push(t);
  return out;
}

/** Numbers from the API: ints, floats, decimal strings, or null. */
export function num(value) {
  if (value === null || value === undefined || value === "") return null;
  const n = typeof value === "number" ? value : Number.parseFloat(value);
  return Number.isFinite(n) ? n : null;
}

/** Keys in first-seen order, ranked by a weight (largest first) when one is given. */
export function keysOf(rows, keyField, weight) {
  const totals = new Map();
  for (const row of rows) {
    const key = row[keyField] ?? "";
    totals.set(key, (totals.get(key) ?? 0) + (weight ? num(row[weight]) ?? 0 : 0));
  }
  const keys = [...totals.keys()];
  return weight ? keys.sort((a, b) => totals.get(b) - totals.get(a)) : keys;
}

/** Timeseries rows -> Map(key -> Map(bucketMs -> row)). */
export function byKeyAndBucket(series) {
  const out = new Map();
  for (const row of series) {
    const key = row.key ?? "";
    if (!out.has(key)) out.set(key, new Map());
    out.get(key).set(parseTime(row.bucket), row);
  }
  return out;
}

/** Sums of count fields per bucket over all keys: Map(bucketMs -> {field: n}). */
export function sumPerBucket(series, fields) {
  const out = new Map();
  for (const row of series) {
    const t = parseTime(row.bucket);
    const acc = out.get(t) ?? Object.fromEntries(fields.map((f) => [f, 0]));
    for (const f of fields) acc[f] += num(row[f]) ?? 0;
    out.set(t, acc);
  }
  return out;
}

// Decimal strings are summed exactly as scaled BigInts: costs are money, and the page shows
// the same digits the store holds.
function scaled(text, scale) {
  const match = /^(-?)(\d*)(?:\.(\d*))?$/.exec(String(text).trim());
  if (!match) throw new Error(`not a decimal: ${JSON.stringify(text)}`);
  const frac = (match[3] ?? "").padEnd(scale, "0").slice(0, scale);
  const digits = BigInt((match[2] || "0") + frac);
  return match[1] === "-" ? -digits : digits;
}

export function decimalSum(values) {
  const texts = values.filter((v) => v !== null && v !== undefined).map(String);
  const scale = Math.max(0, ...texts.map((t) => (t.split(".")[1] ?? "").length));
  let total = 0n;
  for (const t of texts) total += scaled(t, scale);
  const negative = total < 0n;
  const digits = (negative ? -total : total).toString().padStart(scale + 1, "0");
  const whole = digits.slice(0, digits.length - scale);
  const frac = scale ? `.${digits.slice(digits.length - scale)}` : "";
  return `${negative ? "-" : ""}${whole}${frac}`;
}

export function ratio(part, whole) {
  return whole > 0 ? part / whole : null;
}

// --- formatting -------------------------------------------------------------------------

export function fmtCount(n) {
  if (n === null) return "–";
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

export function fmtUsd(n) {
  if (n === null) return "–";
  const abs = Math.abs(n);
  if (abs === 0) return "$0";
  if (abs < 0.01) return `$${n.toPrecision(2)}`;
  if (abs < 100) return `$${n.toFixed(2)}`;
  return `$${Math.round(n).toLocaleString("en-US")}`;
}

export function fmtPct(n) {
  if (n === null) return "–";
  const p = n * 100;
  return `${p < 10 && p !== 0 ? p.toFixed(1) : Math.round(p)}%`;
}

export function fmtMs(n) {
  if (n === null) return "–";
  return n >= 1000 ? `${(n / 1000).toFixed(n >= 10_000 ? 0 : 1)} s` : `${Math.round(n)} ms`;
}

export function fmtTime(ms, step) {
  const iso = isoZ(ms);
  if (step === "day") return iso.slice(0, 10);
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z`;
}

/** A short axis label: the time of day, or the date when the ticks are days apart. */
export function fmtTick(ms, spacing) {
  const iso = isoZ(ms);
  if (spacing >= DAY) return iso.slice(5, 10);
  return iso.slice(11, 16);
}

/** Round axis ticks from 0 to a "nice" maximum at or above ``max``. */
export function niceTicks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const ticks = [];
  for (let v = 0; v < max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks.length * step).toPrecision(12)));
  return ticks;
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080].map(
  (m) => m * MINUTE,
);

/** Tick times on round minutes/hours/days, about ``count`` of them, inside [t0, t1]. */
export function timeTicks(t0, t1, count = 6) {
  const spacing = TIME_STEPS.find((s) => (t1 - t0) / s <= count) ?? TIME_STEPS.at(-1);
  const ticks = [];
  for (let t = Math.ceil(t0 / spacing) * spacing; t <= t1; t += spacing) ticks.push(t);
  return { ticks, spacing };
}
