// The trace view: the execution is a trace and its node runs are spans. One time axis, one
// row per node, one bar per attempt, each bar labelled with its status and duration (colour
// only repeats the word). Hover or focus a bar for exact times; click it for the node's detail.
// Bars are placed in percent of the span, so nothing is measured per bar; past 60 rows only
// the rows in view are in the document (see `windowed`).

import { formatDuration, formatTime, glyph, h, parseTime, replace } from "./dom.js";

export function spanOf(run, now) {
  let start = parseTime(run.startedAt);
  let end = parseTime(run.completedAt);
  if (start === null && end !== null) start = run.duration ? end - run.duration : end;
  if (start === null) start = parseTime(run.createdAt);
  if (end === null) end = run.status === "RUNNING" || run.status === "PENDING" ? Math.max(now, start) : start;
  return { start, end };
}

// Rows in order of first start; a node's attempts share its row.
export function rowsOf(runs, now) {
  const byNode = new Map();
  const ordered = [...runs].sort((a, b) => spanOf(a, now).start - spanOf(b, now).start || a.attempt - b.attempt);
  for (const run of ordered) {
    if (!byNode.has(run.nodeId)) byNode.set(run.nodeId, []);
    byNode.get(run.nodeId).push(run);
  }
  return [...byNode.values()];
}

function niceStep(range, count) {
  const raw = range / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
}

const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);

export function drawTimeline(root, { execution, runs, failedRunId, selectedRunId, onSelect, tip }) {
  tip.hide(); // the bar under the pointer is about to be replaced
  // A node still RUNNING in a finished execution never reported its end: its bar stops at
  // the execution's end instead of growing with the clock.
  const finished = TERMINAL.has(execution.status) ? parseTime(execution.completedAt) : null;
  const now = finished ?? Date.now();
  const rows = rowsOf(runs, now);
  const whole = spanOf({ ...execution, createdAt: execution.createdAt }, now);
  let t0 = whole.start;
  let t1 = whole.end;
  for (const run of runs) {
    const { start, end } = spanOf(run, now);
    t0 = Math.min(t0 ?? start, start);
    t1 = Math.max(t1 ?? end, end);
  }
  if (t0 === null || Number.isNaN(t0)) return replace(root, h("p", { class: "muted" }, "No node has run yet."));
  const range = Math.max(t1 - t0, 1);
  const at = (ms) => ((ms - t0) / range) * 100;
  const step = niceStep(range, 5);
  // Measured once per draw, not per bar: where each bar's words fit (after, inside, before).
  const label = parseFloat(getComputedStyle(root).getPropertyValue("--label")) || 240;
  const trackPx = Math.max(root.clientWidth - label - 16, 100);

  const ticks = [];
  for (let t = 0; t <= range + 1e-9; t += step) ticks.push(t);
  const axis = h("div", { class: "trace-axis", "aria-hidden": "true" }, ...ticks.map((t) => tickLabel(t, (t / range) * 100)));
  const grid = h("div", { class: "trace-grid", "aria-hidden": "true" }, ...ticks.map((t) => gridLine((t / range) * 100)));

  const details = new Map();
  const bar = (run, label, extraClass = "") => {
    const { start, end } = spanOf(run, now);
    const left = at(start);
    const width = Math.max(at(end) - left, 0);
    const duration = run.duration ?? (run.completedAt ? end - start : null);
    const open = run.status === "RUNNING" || run.status === "PENDING";
    const sofar = open && finished !== null ? " · no end reported" : open ? ` · ${formatDuration(end - start)} so far` : "";
    const words = `${run.status}${duration !== null ? ` · ${formatDuration(duration)}` : sofar}`;
    const text = `${glyph(run.status)} ${run.attempt > 1 ? `#${run.attempt} ` : ""}${words}`;
    const button = h(
      "button",
      {
        type: "button",
        class: `bar status-${run.status} ${extraClass} ${placement(text.length * 7.5 + 12, left, width, trackPx)} ${run.id && run.id === selectedRunId ? "selected" : ""}`,
        dataset: { runId: run.id || "", status: run.status },
        "aria-label": `${label}: ${words}, from ${formatTime(start, true)} to ${run.completedAt ? formatTime(end, true) : "now"}`,
      },
      h("span", { class: "bar-text" }, text),
    );
    button.style.left = `${left}%`;
    button.style.width = `max(${width}%, 3px)`;
    details.set(button, { label, run, start, end, duration });
    return button;
  };

  const body = h("div", { class: "trace-body" }, grid);
  const executionRow = () =>
    h(
      "div",
      { class: "trace-row execution-row", dataset: { status: execution.status } },
      h("div", { class: "trace-label" }, h("strong", {}, "Execution"), h("small", {}, execution.workflowId || execution.id)),
      h("div", { class: "trace-track" }, bar({ ...execution, id: "" }, "Execution", "execution-bar")),
    );
  const nodeRow = (attempts) => {
    const last = attempts[attempts.length - 1];
    const failed = attempts.some((r) => r.id === failedRunId);
    const name = last.nodeName || last.nodeId;
    return h(
      "div",
      { class: `trace-row ${failed ? "failed-node" : ""}`, dataset: { nodeId: last.nodeId, status: last.status } },
      h(
        "div",
        { class: "trace-label" },
        h("strong", { title: name }, name),
        h("small", {}, [last.nodeId !== name ? last.nodeId : null, last.nodeType].filter(Boolean).join(" · ")),
        failed ? h("span", { class: "failed-mark" }, "✕ failed here") : null,
      ),
      h("div", { class: "trace-track" }, ...attempts.map((run) => bar(run, `${name} attempt ${run.attempt}`))),
    );
  };
  const makeRow = (index) => (index === 0 ? executionRow() : nodeRow(rows[index - 1]));
  const count = rows.length + 1;
  const previous = root.querySelector(".trace-scroll");
  let scroller = body;
  if (count <= WINDOW_FROM) {
    const fragment = document.createDocumentFragment();
    for (let i = 0; i < count; i++) fragment.append(makeRow(i));
    body.append(fragment);
  } else {
    scroller = windowed(body, count, makeRow);
    const failedAt = rows.findIndex((attempts) => attempts.some((r) => r.id === failedRunId));
    // Same place after a live redraw; on the first draw, the failed node in view.
    scroller.dataset.top = previous ? previous.scrollTop : failedAt > 3 ? (failedAt - 2) * ROW_PX : 0;
  }
  // One listener of each kind for all the bars, not four per bar.
  const barOf = (event) => event.target.closest && event.target.closest(".bar");
  root.onmouseover = root.onfocusin = (event) => {
    const target = barOf(event);
    if (target && details.has(target)) tip.show(target, details.get(target));
  };
  root.onmouseout = root.onfocusout = (event) => {
    if (barOf(event)) tip.hide();
  };
  root.onclick = (event) => {
    const target = barOf(event);
    if (target && onSelect && target.dataset.runId) onSelect(target.dataset.runId);
  };
  replace(
    root,
    h("div", { class: "trace-head" }, h("div", { class: "trace-label" }, `${rows.length} node${rows.length === 1 ? "" : "s"} · ${runs.length} run${runs.length === 1 ? "" : "s"}`), axis),
    scroller,
    h("p", { class: "trace-foot muted" }, `${formatTime(t0, true)} → ${formatTime(t1, true)} · ${formatDuration(range)}`),
  );
  if (scroller !== body) {
    scroller.scrollTop = Number(scroller.dataset.top); // only an attached box scrolls
    scroller.dispatchEvent(new Event("scroll"));
  }
  return root;
}

// Past this many rows only those in view (and a margin) are in the document: the timeline
// scrolls in its own box, and drawing costs the same for 60 rows or 5,000.
const WINDOW_FROM = 60;
const ROW_PX = 40;
const MARGIN_ROWS = 10;

function windowed(body, count, makeRow) {
  body.classList.add("windowed");
  body.style.height = `${count * ROW_PX}px`;
  const scroller = h("div", { class: "trace-scroll", tabindex: "0", "aria-label": `Timeline rows, ${count} in all: scroll for more` }, body);
  const shown = new Map();
  let frame = 0;
  const update = () => {
    frame = 0;
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW_PX) - MARGIN_ROWS);
    const last = Math.min(count - 1, Math.ceil((scroller.scrollTop + (scroller.clientHeight || 600)) / ROW_PX) + MARGIN_ROWS);
    for (const [index, row] of shown) {
      if (index < first || index > last) {
        if (row.contains(document.activeElement)) continue; // keep the focused bar in place
        row.remove();
        shown.delete(index);
      }
    }
    const fragment = document.createDocumentFragment();
    for (let i = first; i <= last; i++) {
      if (shown.has(i)) continue;
      const row = makeRow(i);
      row.style.top = `${i * ROW_PX}px`;
      shown.set(i, row);
      fragment.append(row);
    }
    body.append(fragment);
  };
  scroller.addEventListener("scroll", () => {
    if (!frame) frame = requestAnimationFrame(update);
  });
  update();
  return scroller;
}

function placement(textPx, left, width, trackPx) {
  const room = { "text-after": ((100 - left - width) / 100) * trackPx, "text-inside": (width / 100) * trackPx, "text-before": (left / 100) * trackPx };
  const fits = Object.keys(room).find((where) => room[where] >= textPx);
  // Nowhere for all of it: inside, cut short, while the status word still shows.
  return fits || (room["text-inside"] >= 80 ? "text-inside" : Object.keys(room).reduce((a, b) => (room[a] >= room[b] ? a : b)));
}

function tickLabel(ms, percent) {
  const el = h("span", { class: "tick" }, ms === 0 ? "0" : `+${formatDuration(ms)}`);
  el.style.left = `${percent}%`;
  return el;
}

function gridLine(percent) {
  const el = h("span", { class: "grid-line" });
  el.style.left = `${percent}%`;
  return el;
}

// One tooltip for every bar, placed beside the one under the pointer or the keyboard focus.
export function tooltip() {
  const el = h("div", { class: "tip", role: "tooltip", hidden: true });
  document.body.append(el);
  return {
    show(target, { label, run, start, end, duration }) {
      replace(
        el,
        h("strong", {}, label),
        h("dl", {}, ...[
          ["Status", run.status],
          ["Attempt", String(run.attempt ?? 1)],
          ["Start", formatTime(start, true)],
          ["End", run.completedAt ? formatTime(end, true) : "still running"],
          ["Duration", formatDuration(duration ?? end - start)],
        ].flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      );
      el.hidden = false;
      const box = target.getBoundingClientRect();
      const width = el.offsetWidth;
      const left = Math.min(Math.max(8, box.left), window.innerWidth - width - 8);
      const below = box.bottom + 6 + el.offsetHeight < window.innerHeight;
      el.style.left = `${left + window.scrollX}px`;
      el.style.top = `${(below ? box.bottom + 6 : box.top - el.offsetHeight - 6) + window.scrollY}px`;
    },
    hide() {
      el.hidden = true;
    },
    remove() {
      el.remove();
    },
  };
}
