// The dashboard: reads the range from the controls (and the URL), asks the analytics API,
// draws the panels, and refreshes every few seconds until paused. The page's state is
// mirrored on <body> (data-state, data-refreshes) and on #range-used (data-since,
// data-until: the window the API answered for), which is what a test waits on.

import * as D from "./data.js";
import { renderAll } from "./panels.js";

const DEFAULT_REFRESH_S = 5;

class ApiError extends Error {
  constructor(endpoint, status, detail) {
    const where = status === null ? endpoint : `${endpoint} answered ${status}`;
    super(`${where}: ${detail}`);
    this.name = "ApiError";
  }
}

const state = {
  range: "1h",
  custom: { since: "", until: "" },
  step: "auto",
  paused: false,
  refreshS: DEFAULT_REFRESH_S,
  timer: null,
  seq: 0,
  refreshes: 0,
  view: null, // the last replies drawn, redrawn at a new width when the window resizes
};

const $ = (id) => document.getElementById(id);

async function getJson(endpoint, params) {
  // Relative to the page (served at /dashboard/), so a path prefix in front still works.
  const url = new URL(`../api/${endpoint}`, document.baseURI);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const shown = `GET /api/${endpoint}`;
  let reply;
  try {
    reply = await fetch(url, { headers: { accept: "application/json" } });
  } catch (exc) {
    throw new ApiError(shown, null, `the analytics API did not answer (${exc.message})`);
  }
  const body = await reply.text();
  let data = null;
  try {
    data = JSON.parse(body);
  } catch {
    data = null;
  }
  if (!reply.ok) {
    // The API answers {"error": {"message", "param"}}; anything else is shown as it came.
    const error = data?.error;
    const detail = typeof error === "string" ? error : error?.message;
    const fallback = body.trim().slice(0, 300) || reply.statusText;
    throw new ApiError(shown, reply.status, detail ?? fallback);
  }
  if (data === null || typeof data !== "object") {
    throw new ApiError(shown, reply.status, "the reply is not a JSON object");
  }
  return data;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
  document.body.dataset.state = "error";
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function stepFor(picked) {
  return state.step === "auto" ? D.autoStep(picked.until - picked.since) : state.step;
}

async function refresh() {
  clearTimeout(state.timer);
  const seq = ++state.seq;
  let picked;
  try {
    picked = D.resolveRange(state.range, Date.now(), state.custom);
  } catch (exc) {
    showError(exc.message);
    return;
  }
  const step = stepFor(picked);
  const range = { since: D.isoZ(picked.since), until: D.isoZ(picked.until) };
  document.body.classList.add("busy");
  try {
    const [lines, tenantDays, modelDays, router, summary] = await Promise.all([
      getJson("timeseries", { ...range, step, by: "model" }),
      getJson("timeseries", { ...range, step: "day", by: "tenant" }),
      getJson("timeseries", { ...range, step: "day", by: "model" }),
      getJson("router", range),
      getJson("summary", { ...range, by: "model" }),
    ]);
    if (seq !== state.seq) return; // the range changed while this was in flight
    // Draw over the window the API says it answered for (it floors to the minute).
    const t0 = D.parseTime(lines.since);
    const t1 = D.parseTime(lines.until);
    state.view = { lines, tenantDays, modelDays, router, summary, t0, t1, step };
    const outcome = renderAll(state.view);
    showRange(lines, summary, picked, step);
    clearError();
    state.refreshes += 1;
    document.body.dataset.refreshes = String(state.refreshes);
    document.body.dataset.state = outcome;
    $("updated").textContent = `· updated ${new Date().toISOString().slice(11, 19)}Z`;
  } catch (exc) {
    if (seq !== state.seq) return;
    // The API's failures are expected news for the reader; anything else is a bug in this
    // page, and goes to the console as well.
    if (!(exc instanceof ApiError)) console.error(exc);
    showError(`Could not load the dashboard: ${exc.message}`);
  } finally {
    document.body.classList.remove("busy");
    if (seq === state.seq) schedule();
  }
}

function showRange(lines, summary, picked, step) {
  const used = $("range-used");
  used.dataset.since = lines.since;
  used.dataset.until = lines.until;
  used.dataset.step = step;
  const source = summary.source ? ` · source ${summary.source}` : "";
  used.textContent =
    `${picked.label}: ${D.fmtTime(D.parseTime(lines.since), "minute")} → ` +
    `${D.fmtTime(D.parseTime(lines.until), "minute")} · step ${step}${source}`;
}

function schedule() {
  clearTimeout(state.timer);
  state.timer = null;
  if (!state.paused) state.timer = setTimeout(refresh, state.refreshS * 1000);
  $("pause").textContent = state.paused ? "resume" : "pause";
  $("pause").setAttribute("aria-pressed", String(state.paused));
  $("pause").title = state.paused ? "refreshing is paused" : `refreshing every ${state.refreshS} s`;
}

function syncControls() {
  for (const button of document.querySelectorAll("[data-range]")) {
    button.setAttribute("aria-pressed", String(button.dataset.range === state.range));
  }
  $("custom").hidden = state.range !== "custom";
  $("since").value = state.custom.since;
  $("until").value = state.custom.until;
  $("step").value = state.step;
}

function syncUrl() {
  const params = new URLSearchParams({ range: state.range });
  if (state.range === "custom") {
    params.set("since", state.custom.since);
    params.set("until", state.custom.until);
  }
  if (state.step !== "auto") params.set("step", state.step);
  if (state.refreshS !== DEFAULT_REFRESH_S) params.set("refresh", String(state.refreshS));
  if (state.paused) params.set("paused", "1");
  history.replaceState(null, "", `?${params}`);
}

function readUrl() {
  const params = new URLSearchParams(location.search);
  const range = params.get("range");
  if (range && (range in D.RANGES || range === "custom")) state.range = range;
  state.custom.since = params.get("since") ?? "";
  state.custom.until = params.get("until") ?? "";
  const step = params.get("step");
  if (step && (step === "auto" || step in D.STEP_MS)) state.step = step;
  const seconds = Number.parseFloat(params.get("refresh") ?? "");
  if (Number.isFinite(seconds) && seconds >= 1) state.refreshS = seconds;
  state.paused = params.get("paused") === "1";
}

function bind() {
  for (const button of document.querySelectorAll("[data-range]")) {
    button.addEventListener("click", () => {
      const choice = button.dataset.range;
      if (choice === "custom" && !state.custom.since) {
        // Start the custom inputs from the window on screen.
        const shown = state.range === "custom" ? "1h" : state.range;
        const now = D.resolveRange(shown, Date.now(), state.custom);
        state.custom = { since: D.toLocalUtcInput(now.since), until: D.toLocalUtcInput(now.until) };
      }
      state.range = choice;
      syncControls();
      syncUrl();
      if (choice !== "custom") refresh();
    });
  }
  $("controls").addEventListener("submit", (event) => {
    event.preventDefault();
    state.custom = { since: $("since").value, until: $("until").value };
    syncUrl();
    refresh();
  });
  $("step").addEventListener("change", () => {
    state.step = $("step").value;
    syncUrl();
    refresh();
  });
  $("pause").addEventListener("click", () => {
    state.paused = !state.paused;
    syncUrl();
    if (state.paused) schedule();
    else refresh();
  });
}

let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => state.view && renderAll(state.view), 150);
});

readUrl();
bind();
syncControls();
refresh();
