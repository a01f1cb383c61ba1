// One execution: summary, the failed node in plain sight, the trace timeline, the selected
// node run's detail, retries, the raw event history, and Retry. Live.

import { allNodeRuns, ApiError, get, request } from "./api.js";
import { formatDuration, formatTime, h, jsonBlock, link, parseTime, replace, statusBadge } from "./dom.js";
import { Live } from "./live.js";
import { drawTimeline, tooltip } from "./timeline.js";

export function executionView(root, { id, setLive }) {
  const path = `/api/executions/${encodeURIComponent(id)}`;
  const state = { execution: null, runs: new Map(), history: null, retries: null, selected: null, result: null };
  const tip = tooltip();
  const parts = {
    head: h("div", { class: "execution-head" }),
    failure: h("div"),
    result: h("div", { role: "status", "aria-live": "polite" }),
    timeline: h("div", { class: "trace", role: "group", "aria-label": "Timeline of node runs" }),
    detail: h("div", { class: "detail" }),
    retries: h("div"),
    history: h("div"),
  };
  const dialog = confirmDialog();
  replace(
    root,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, link("/ui/", "Executions"), " / ", h("span", { class: "mono" }, id)),
    parts.head,
    parts.failure,
    parts.result,
    h("section", { "aria-labelledby": "timeline-title" }, h("h2", { id: "timeline-title" }, "Timeline"), parts.timeline),
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
  const drawn = { retries: null, history: null };
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
    const timelineBegan = performance.now();
    drawTimeline(parts.timeline, { execution: e, runs: [...state.runs.values()], failedRunId: failed && failed.id, selectedRunId: state.selected, onSelect: select, tip });
    performance.clearMeasures("timeline-render");
    performance.measure("timeline-render", { start: timelineBegan, end: performance.now() });
    if (focused !== null && focused !== undefined) {
      const again = parts.timeline.querySelector(`.bar[data-run-id="${CSS.escape(focused)}"]`);
      if (again) again.focus({ preventScroll: true });
    }
    drawDetail(parts.detail, state.runs.get(state.selected));
    // The history may hold thousands of events: redrawn only when it was fetched again.
    if (state.retries && state.retries !== drawn.retries) drawRetries(parts.retries, (drawn.retries = state.retries));
    if (state.history && state.history !== drawn.history) drawHistory(parts.history, (drawn.history = state.history));
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
    const [history, retries] = await Promise.all([get(`${path}/events`), get(`${path}/retries`)]);
    state.history = history.data;
    state.retries = retries.data;
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
  // A running bar grows with the clock.
  const clock = setInterval(() => {
    if (state.execution && state.execution.status === "RUNNING") schedule();
  }, 1000);
  // Where each bar's words fit depends on the width.
  window.addEventListener("resize", schedule);
  return () => {
    window.removeEventListener("resize", schedule);
    if (live) live.stop();
    clearInterval(clock);
    clearTimeout(sideTimer);
    cancelAnimationFrame(frame);
    tip.remove();
  };
}

function phrase(status) {
  return { 202: "Accepted", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict", 503: "Service Unavailable" }[status] || "";
}

function retryError(error) {
  if (!(error instanceof ApiError)) return `the request did not reach the service (${error.message}).`;
  const message = error.body && error.body.message;
  if (error.status === 409) return `it cannot be retried now: ${message}.`;
  if (error.status === 503) return "the service could not publish the request to the orchestrator; nothing was recorded. Try again in a moment.";
  if (error.status === 401 || error.status === 403) return "the service wants an API token: set one with “API token” above.";
  return message || "the service refused it.";
}

function drawHead(el, e, retry) {
  const started = parseTime(e.startedAt);
  const fields = [
    ["Workflow", e.workflowId || "—"],
    ["User", e.userId || "—"],
    ["Attempt", String(e.attempt)],
    ["Started", formatTime(started, true)],
    ["Finished", e.completedAt ? formatTime(parseTime(e.completedAt), true) : "—"],
    ["Duration", e.duration !== null && e.duration !== undefined ? formatDuration(e.duration) : e.status === "RUNNING" && started ? `${formatDuration(Date.now() - started)} so far` : "—"],
    ["Nodes", `${e.nodes.completed} completed, ${e.nodes.failed} failed, ${e.nodes.running} running of ${e.nodes.total}`],
  ];
  if (e.retryOf) fields.push(["Retry of", link(`/ui/executions/${encodeURIComponent(e.retryOf)}`, e.retryOf, { class: "mono" })]);
  replace(
    el,
    h("div", { class: "title-row" }, h("h1", { class: "mono" }, e.id), statusBadge(e.status), e.status === "FAILED" ? h("button", { type: "button", class: "primary retry", onclick: retry }, "Retry…") : null),
    h("dl", { class: "facts" }, ...fields.map(([k, v]) => h("div", { class: k === "Nodes" ? "wide" : null }, h("dt", {}, k), h("dd", {}, v)))),
  );
}

function drawFailure(el, e, failed, select) {
  if (e.status !== "FAILED" && e.status !== "CANCELLED") return replace(el);
  const cancelled = e.status === "CANCELLED";
  replace(
    el,
    h(
      "div",
      { class: `alert ${cancelled ? "neutral" : ""}`, role: cancelled ? null : "alert" },
      h("h2", {}, cancelled ? "Cancelled" : failed ? `Failed at node ${failed.nodeName || failed.nodeId}` : "Failed"),
      failed ? h("p", { class: "node-error" }, h("span", { class: "mono" }, `${failed.nodeId} · attempt ${failed.attempt}: `), failed.error || "no error message") : null,
      e.error && (!failed || e.error !== failed.error) ? h("p", {}, e.error) : null,
      failed ? h("button", { type: "button", class: "plain", onclick: () => select(failed.id) }, "Show its input and output") : null,
    ),
  );
}

function drawDetail(el, run) {
  if (!run) return replace(el, h("p", { class: "muted" }, "Select a bar in the timeline to see its node run."));
  const start = parseTime(run.startedAt);
  const end = parseTime(run.completedAt);
  replace(
    el,
    h("div", { class: "title-row" }, h("h3", {}, run.nodeName || run.nodeId), statusBadge(run.status)),
    h(
      "dl",
      { class: "facts" },
      ...[
        ["Node", run.nodeId],
        ["Type", run.nodeType || "—"],
        ["Attempt", String(run.attempt)],
        ["Started", formatTime(start, true)],
        ["Finished", formatTime(end, true)],
        ["Duration", formatDuration(run.duration ?? (start && end ? end - start : null))],
      ].map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))),
    ),
    run.error ? h("div", { class: "node-error-box" }, h("h4", {}, "Error"), jsonBlock(run.error, "error")) : null,
    h("div", { class: "io" }, h("div", {}, h("h4", {}, "Input"), jsonBlock(run.input, "input")), h("div", {}, h("h4", {}, "Output"), jsonBlock(run.output, "output"))),
  );
}

function drawRetries(el, retries) {
  if (!retries.length) return replace(el, h("p", { class: "muted" }, "None."));
  replace(
    el,
    h("div", { class: "table-wrap" }, h(
      "table",
      {},
      h("thead", {}, h("tr", {}, ...["Attempt", "From node", "Requested", "Message id"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, ...retries.map((r) => h("tr", {}, h("td", {}, String(r.attempt)), h("td", { class: "mono" }, r.failedNodeId), h("td", {}, formatTime(parseTime(r.requestedAt), true)), h("td", { class: "mono" }, r.messageId || "—")))),
    )),
  );
}

// The history can hold thousands of events: the first hundred are drawn until asked for
// more, and each one's JSON is formatted when opened.
const HISTORY_SHOWN = 100;
function drawHistory(el, events) {
  if (!events.length) return replace(el, h("p", { class: "muted" }, "No events."));
  const items = events.map((item, index) => {
    const event = item.event || {};
    const node = event.data && event.data.nodeId ? ` · ${event.data.nodeId}` : "";
    const attempt = event.data && event.data.attempt > 1 ? ` · attempt ${event.data.attempt}` : "";
    const details = h(
      "details",
      { class: "event" },
      h("summary", {}, h("span", { class: "num" }, `#${index + 1}`), h("time", {}, formatTime(parseTime(event.timestamp), true)), h("span", { class: "mono" }, `${item.subject}${node}${attempt}`)),
    );
    details.addEventListener("toggle", () => {
      if (details.open && details.children.length === 1) details.append(h("p", { class: "muted mono" }, `key ${item.key}`), jsonBlock(event, "event"));
    }, { once: false });
    return details;
  });
  const shown = items.length > HISTORY_SHOWN ? items.slice(0, HISTORY_SHOWN) : items;
  const more = h("button", { type: "button", class: "plain", onclick: () => more.replaceWith(...items.slice(HISTORY_SHOWN)) }, `Show all ${events.length} events`);
  replace(el, h("p", { class: "muted" }, `${events.length} event${events.length === 1 ? "" : "s"}, as received`), ...shown, items.length > HISTORY_SHOWN ? more : null);
}

function confirmDialog() {
  const title = h("h2", { id: "confirm-title" });
  const text = h("p");
  const el = h(
    "dialog",
    { class: "confirm", "aria-labelledby": "confirm-title" },
    h("form", { method: "dialog" }, title, text, h("div", { class: "actions" }, h("button", { value: "cancel", class: "plain" }, "Cancel"), h("button", { value: "confirm", class: "primary", autofocus: true }, "Retry"))),
  );
  return {
    el,
    ask(heading, body) {
      title.textContent = heading;
      text.textContent = body;
      el.returnValue = "";
      el.showModal();
      return new Promise((resolve) => el.addEventListener("close", () => resolve(el.returnValue === "confirm"), { once: true }));
    },
  };
}
