// One execution: summary, the failed node in plain sight with the execution's own input,
// output and metadata, how long a running one has been quiet, the trace timeline, the selected
// node run's detail, retries, the raw event history (as received or by event time), and Retry.
// Live.

import { allNodeRuns, ApiError, get, phrase, request } from "./api.js";
import { confirmDialog } from "./dialog.js";
import { h, link, parseTime, replace } from "./dom.js";
import { drawData, drawDetail, drawFailure, drawHead, drawHistory, drawQuiet, drawRetries, lastEvent, retryError } from "./execution-parts.js";
import { Live } from "./live.js";
import { replayControl } from "./replay.js";
import { drawTimeline, tooltip } from "./timeline.js";

export function executionView(root, { id, params, setLive }) {
  const path = `/api/executions/${encodeURIComponent(id)}`;
  const order = params.get("events") === "time" ? "time" : "arrival";
  // replay: the execution and its runs as they stood at a past moment, while one is chosen
  const state = { execution: null, runs: new Map(), history: null, retries: null, selected: null, result: null, order, replay: null };
  const tip = tooltip();
  const parts = {
    head: h("div", { class: "execution-head" }),
    traces: h("p", { class: "trace-links" }),
    failure: h("div"),
    data: h("section", { class: "execution-data", "aria-label": "The execution's input, output and metadata" }),
    quiet: h("div"),
    result: h("div", { role: "status", "aria-live": "polite" }),
    timeline: h("div", { class: "trace", role: "group", "aria-label": "Timeline of node runs" }),
    detail: h("div", { class: "detail" }),
    retries: h("div"),
    history: h("div"),
  };
  const dialog = confirmDialog();
  const replay = replayControl(id, (moment) => {
    state.replay = moment;
    schedule();
  });
  replace(
    root,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, link("/ui/", "Executions"), " / ", h("span", { class: "mono" }, id)),
    parts.head,
    parts.traces,
    parts.failure,
    parts.data,
    parts.quiet,
    parts.result,
    h("section", { "aria-labelledby": "timeline-title" }, h("h2", { id: "timeline-title" }, "Timeline"), replay.el, parts.timeline),
    h("section", { "aria-labelledby": "detail-title", class: "detail-section" }, h("h2", { id: "detail-title" }, "Node run"), parts.detail),
    h("section", { "aria-labelledby": "retries-title" }, h("h2", { id: "retries-title" }, "Retries requested"), parts.retries),
    h("section", { "aria-labelledby": "history-title" }, h("h2", { id: "history-title" }, "Event history"), parts.history),
    dialog.el,
  );

  const failedRun = () => {
    const e = state.execution;
    if (!e || e.status !== "FAILED") return null;
    const failed = [...state.runs.values()].filter((r) => r.status === "FAILED");
    const ofAttempt = failed.filter((r) => r.attempt === e.attempt);
    const pool = ofAttempt.length ? ofAttempt : failed;
    const key = (r) => parseTime(r.completedAt) ?? Infinity;
    return pool.sort((a, b) => key(a) - key(b) || a.nodeId.localeCompare(b.nodeId))[0] || null;
  };

  let drawnOnce = false;
  const drawn = { retries: null, history: null, order: null, data: null, traces: null };
  let frame = 0;
  function render() {
    frame = 0;
    const e = state.execution;
    if (!e) return;
    const began = performance.now();
    const failed = failedRun();
    if (!state.selected && failed) state.selected = failed.id;
    // Redrawing replaces the bars: keep the keyboard on the one it was on.
    const focused = document.activeElement && parts.timeline.contains(document.activeElement) ? document.activeElement.dataset.runId : null;
    drawHead(parts.head, e, retry);
    drawFailure(parts.failure, e, failed, select);
    const data = JSON.stringify([e.input, e.output, e.metadata]);
    if (data !== drawn.data) {
      drawn.data = data;
      drawData(parts.data, e);
    }
    drawQuiet(parts.quiet, e, lastEvent(e, [...state.runs.values()], state.history));
    const timelineBegan = performance.now();
    replay.update(e);
    const past = state.replay;
    parts.timeline.classList.toggle("replayed", Boolean(past));
    if (past) drawTimeline(parts.timeline, { execution: past.execution, runs: past.runs, failedRunId: null, selectedRunId: state.selected, onSelect: select, tip, now: past.at });
    else drawTimeline(parts.timeline, { execution: e, runs: [...state.runs.values()], failedRunId: failed && failed.id, selectedRunId: state.selected, onSelect: select, tip });
    performance.clearMeasures("timeline-render");
    performance.measure("timeline-render", { start: timelineBegan, end: performance.now() });
    if (focused !== null && focused !== undefined) {
      const again = parts.timeline.querySelector(`.bar[data-run-id="${CSS.escape(focused)}"]`);
      if (again) again.focus({ preventScroll: true });
    }
    drawDetail(parts.detail, state.runs.get(state.selected));
    // The history may hold thousands of events: redrawn only when it was fetched again.
    if (state.traces && state.traces !== drawn.traces) drawTraceLinks(parts.traces, (drawn.traces = state.traces));
    if (state.retries && state.retries !== drawn.retries) drawRetries(parts.retries, (drawn.retries = state.retries));
    if (state.history && (state.history !== drawn.history || state.order !== drawn.order)) {
      drawHistory(parts.history, (drawn.history = state.history), (drawn.order = state.order), orderHistory);
    }
    // What one redraw costs (a live update), readable by anyone measuring the page.
    performance.clearMeasures("execution-render");
    performance.measure("execution-render", { start: began, end: performance.now() });
    if (!drawnOnce) {
      drawnOnce = true;
      performance.mark("timeline-drawn");
    }
  }
  // Many messages in a row (the stream's first snapshot: every node run) draw once.
  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(render);
  };
  // The order is part of the address, so that a view can be shared; not a new page.
  function orderHistory(next) {
    state.order = next;
    const url = new URL(location.href);
    if (next === "time") url.searchParams.set("events", "time");
    else url.searchParams.delete("events");
    history.replaceState(null, "", url);
    schedule();
  }
  // Choosing a bar changes the detail and one highlight, not the timeline.
  function select(runId) {
    state.selected = runId;
    for (const bar of parts.timeline.querySelectorAll(".bar.selected")) bar.classList.remove("selected");
    const chosen = parts.timeline.querySelector(`.bar[data-run-id="${CSS.escape(runId)}"]`);
    if (chosen) chosen.classList.add("selected");
    drawDetail(parts.detail, state.runs.get(runId));
    parts.detail.scrollIntoView({ block: "nearest" });
  }

  async function loadSide() {
    // A trace exists once an attempt finished: a running execution's history is not parsed for it.
    const finished = state.execution && ["COMPLETED", "FAILED", "CANCELLED"].includes(state.execution.status);
    const [history, retries, traces] = await Promise.all([get(`${path}/events`), get(`${path}/retries`), finished ? get(`${path}/traces`) : { data: [] }]);
    state.history = history.data;
    state.retries = retries.data;
    state.traces = traces.data;
    schedule();
  }
  let sideTimer = null;
  const loadSideSoon = () => {
    if (!sideTimer) sideTimer = setTimeout(() => ((sideTimer = null), loadSide().catch(() => {})), 500);
  };

  let seen = "";
  const fingerprint = (e, runs) => JSON.stringify([e.status, e.attempt, e.updatedAt, e.nodes, runs && runs.map((r) => [r.id, r.status, r.updatedAt])]);
  async function loadAll() {
    const [execution, runs] = await Promise.all([get(path), allNodeRuns(id)]);
    const now = fingerprint(execution, runs);
    if (now === seen) return;
    seen = now;
    state.execution = execution;
    state.runs = new Map(runs.map((r) => [r.id, r]));
    schedule();
    await loadSide();
  }

  async function retry() {
    const e = state.execution;
    const failed = failedRun();
    const confirmed = await dialog.ask(
      `Retry execution ${e.id}?`,
      `This asks the orchestrator to run attempt ${e.attempt + 1}, resuming from ${failed ? `node ${failed.nodeName || failed.nodeId}` : "its failed node"}.`,
    );
    if (!confirmed) return;
    let result;
    try {
      const { status, body } = await request("POST", `${path}/retry`);
      result = { status, ok: true, text: `Retry requested: attempt ${body.attempt} will resume from node ${body.failedNodeId}.` };
      if (live) live.stop();
      live = startLive();
    } catch (error) {
      result = { status: error.status, ok: false, text: retryError(error) };
    }
    replace(parts.result, h("p", { class: `result ${result.ok ? "ok" : "bad"}`, dataset: { status: String(result.status ?? "") } }, h("strong", {}, result.status ? `${result.status} ${phrase(result.status)}` : "Not sent"), " — ", result.text));
    loadSide().catch(() => {});
  }

  function startLive() {
    return new Live({
      url: `${path}/stream`,
      events: {
        execution: (execution) => {
          state.execution = execution;
          schedule();
          loadSideSoon();
        },
        node: (run) => {
          state.runs.set(run.id, run);
          schedule();
          loadSideSoon();
        },
      },
      poll: loadAll,
      watch: async () => {
        const execution = await get(path);
        const e = state.execution;
        return !e || fingerprint(execution) !== fingerprint(e);
      },
      onMode: setLive,
    }).start();
  }

  let live = null;
  loadAll()
    .then(() => (live = startLive()))
    .catch((error) => {
      replace(parts.head, h("h1", { class: "mono" }, id), h("p", { class: "error", role: "alert" }, error instanceof ApiError && error.status === 404 ? `No execution with id “${id}”.` : `Could not load it: ${error.message}`));
    });
  // A running bar grows with the clock, and so does the time it has been quiet.
  const clock = setInterval(() => {
    if (state.execution && state.execution.status === "RUNNING") schedule();
  }, 1000);
  // Where each bar's words fit depends on the width.
  window.addEventListener("resize", schedule);
  return () => {
    window.removeEventListener("resize", schedule);
    if (live) live.stop();
    replay.stop();
    clearInterval(clock);
    clearTimeout(sideTimer);
    cancelAnimationFrame(frame);
    tip.remove();
  };
}

// Each finished attempt's trace in the tracing tool TRACE_UI_URL names (none when it is unset).
function drawTraceLinks(el, traces) {
  const linked = traces.filter((t) => t.url);
  if (!linked.length) return replace(el);
  const many = linked.length > 1;
  const links = linked.map((t) => h("a", { href: t.url, target: "_blank", rel: "noopener noreferrer", class: "trace-link", "data-trace-id": t.traceId }, many ? `attempt ${t.attempt}` : "Open trace"));
  replace(el, many ? "Traces: " : "", ...links.flatMap((a, i) => (i ? [", ", a] : [a])));
}
