// The trace view: the execution is a trace and its node runs are spans. One time axis, one
// row per node, one bar per attempt, each bar labelled with its status and duration (colour
// only repeats the word). Hover or focus a bar for exact times; click it for the node's detail.
// Bars are placed in percent of the track; a long stretch in which no run starts or ends may be
// cut out of the axis, so that short runs stay readable (axis.js).
// Past 60 rows only the rows in view are in the document (see `windowed`).

import { timeAxis } from "./axis.js";
import { formatDuration, formatTime, glyph, h, parseTime, replace } from "./dom.js";

const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);
const OPEN = new Set(["RUNNING", "PENDING"]);

// What a run's events say of its start and end (end null while none was reported).
function reported(run) {
  let start = parseTime(run.startedAt);
  const end = parseTime(run.completedAt);
  if (start === null && end !== null) start = run.duration ? end - run.duration : end;
  if (start === null) start = parseTime(run.createdAt);
  return { start, end };
}

// Where each run's bar starts and ends. An open run grows with the clock unless no end will
// come: in a finished execution it stops at the execution's end, and in an attempt that a
// retry superseded, at the last report of its own attempt.
export function spansOf(execution, runs, now) {
  const finished = TERMINAL.has(execution.status) ? parseTime(execution.completedAt) : null;
  const known = runs.map((run) => [run, reported(run)]);
  const lastOfAttempt = new Map();
  for (const [run, { start, end }] of known) {
    lastOfAttempt.set(run.attempt, Math.max(lastOfAttempt.get(run.attempt) ?? -Infinity, start ?? -Infinity, end ?? -Infinity));
  }
  const spans = new Map();
  for (const [run, { start, end }] of known) {
    const open = end === null && OPEN.has(run.status);
    const superseded = run.attempt < execution.attempt;
    let until = end;
    if (until === null && !open) until = start;
    else if (until === null && superseded) until = Math.max(start, lastOfAttempt.get(run.attempt));
    else if (until === null) until = Math.max(finished ?? now, start);
    spans.set(run, { start, end: until, open, noEnd: open && (superseded || finished !== null) });
  }
  return spans;
}

// Rows in order of first start; a node's attempts share its row.
export function rowsOf(runs, spans) {
  const byNode = new Map();
  const ordered = [...runs].sort((a, b) => spans.get(a).start - spans.get(b).start || a.attempt - b.attempt);
  for (const run of ordered) {
    if (!byNode.has(run.nodeId)) byNode.set(run.nodeId, []);
    byNode.get(run.nodeId).push(run);
  }
  return [...byNode.values()];
}

// `now`: where an open run ends (a replayed moment's, else the clock's).
export function drawTimeline(root, { execution, runs, failedRunId, selectedRunId, onSelect, tip, now = Date.now() }) {
  tip.hide(); // the bar under the pointer is about to be replaced
  const finished = TERMINAL.has(execution.status) ? parseTime(execution.completedAt) : null;
  const spans = spansOf(execution, runs, now);
  const rows = rowsOf(runs, spans);
  const whole = reported(execution);
  whole.end = whole.end ?? Math.max(finished ?? now, whole.start ?? now);
  let t0 = whole.start;
  let t1 = whole.end;
  for (const { start, end } of spans.values()) {
    t0 = Math.min(t0 ?? start, start);
    t1 = Math.max(t1 ?? end, end);
  }
  if (t0 === null || Number.isNaN(t0)) return replace(root, h("p", { class: "muted" }, "No node has run yet."));
  // Measured once per draw, not per bar.
  const style = getComputedStyle(root);
  const labelPx = parseFloat(style.getPropertyValue("--label")) || 240;
  const endPx = parseFloat(style.getPropertyValue("--track-end")) || 16;
  const trackPx = Math.max(root.clientWidth - labelPx - endPx, 100);
  const axis = timeAxis(t0, t1, [...spans.values()].map(({ start, end }) => [start, end]), trackPx);
  const at = axis.at;

  const idle = (cut) => ![...spans.values()].some(({ start, end }) => start < cut.end && end > cut.start);
  const cutText = (cut) => `${formatDuration(cut.end - cut.start)} in which ${idle(cut) ? "no node ran" : "no node started or ended"}: cut out of the axis`;
  const axisEl = h(
    "div",
    { class: "trace-axis", "aria-hidden": "true", dataset: { step: String(axis.step.step), unit: axis.step.unit } },
    ...axis.cuts.map((cut) => h("span", { class: "cut-mark", title: cutText(cut), dataset: { percent: String(cut.left + cut.width / 2) } }, "//")),
    ...axis.ticks.map((t) => h("span", { class: "tick", dataset: { ms: String(t.offset), percent: String(t.percent) } }, t.label)),
  );
  const gridLines = axis.ticks.map((t) => {
    const el = h("span", { class: "grid-line" });
    el.style.left = `${t.percent}%`;
    return el;
  });
  const cutBands = axis.cuts.map((cut) => {
    const el = h("span", { class: "trace-cut", title: cutText(cut) });
    el.style.left = `${cut.left}%`;
    el.style.width = `${cut.width}%`;
    return el;
  });
  const grid = h("div", { class: "trace-grid", "aria-hidden": "true" }, ...gridLines, ...cutBands);

  const details = new Map();
  const barOfRun = (run, span, label, extraClass = "") => {
    const { start, end, open, noEnd } = span;
    const left = at(start);
    const width = Math.max(at(end) - left, 0);
    const duration = run.duration ?? (run.completedAt ? end - start : null);
    const sofar = noEnd ? " · no end reported" : open ? ` · ${formatDuration(end - start)} so far` : "";
    const words = `${run.status}${duration !== null ? ` · ${formatDuration(duration)}` : sofar}`;
    const attempt = run.attempt > 1 ? `#${run.attempt} ` : "";
    const button = h(
      "button",
      {
        type: "button",
        class: `bar status-${run.status} ${extraClass} ${run.id && run.id === selectedRunId ? "selected" : ""}`,
        dataset: { runId: run.id || "", status: run.status },
        "aria-label": `${label}: ${words}, from ${formatTime(start, true)} to ${run.completedAt ? formatTime(end, true) : "now"}`,
      },
      h("span", { class: "bar-text" }),
    );
    button.style.left = `${left}%`;
    button.style.width = `max(${width}%, 3px)`;
    details.set(button, { label, run, start, end, duration });
    // Longest first: the words that fit beside the bar's neighbours (see `label`).
    const texts = [`${glyph(run.status)} ${attempt}${words}`, `${glyph(run.status)} ${attempt}${run.status}`, glyph(run.status)];
    return { button, texts, left: (left / 100) * trackPx, right: (left / 100) * trackPx + Math.max((width / 100) * trackPx, 3) };
  };
  const track = (bars) => {
    bars.sort((a, b) => a.left - b.left);
    bars.forEach((bar, i) => labelBar(bar, i > 0 ? bars[i - 1].right : 0, i + 1 < bars.length ? bars[i + 1].left : trackPx));
    return h("div", { class: "trace-track" }, ...bars.map((b) => b.button));
  };

  const body = h("div", { class: "trace-body" }, grid);
  const executionRow = () =>
    h(
      "div",
      { class: "trace-row execution-row", dataset: { status: execution.status } },
      h("div", { class: "trace-label" }, h("strong", {}, "Execution"), h("small", {}, execution.workflowId || execution.id)),
      track([barOfRun({ ...execution, id: "" }, { start: whole.start ?? t0, end: whole.end, open: OPEN.has(execution.status), noEnd: false }, "Execution", "execution-bar")]),
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
      track(attempts.map((run) => barOfRun(run, spans.get(run), `${name} attempt ${run.attempt}`))),
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
  const cut = axis.cuts.reduce((sum, c) => sum + (c.end - c.start), 0);
  replace(
    root,
    h("div", { class: "trace-head" }, h("div", { class: "trace-label" }, `${rows.length} node${rows.length === 1 ? "" : "s"} · ${runs.length} run${runs.length === 1 ? "" : "s"}`), axisEl),
    scroller,
    h(
      "p",
      { class: "trace-foot muted" },
      `${formatTime(t0, true)} → ${formatTime(t1, true)} · ${formatDuration(t1 - t0)}`,
      cut ? ` · // ${formatDuration(cut)} in which no node started or ended ${axis.cuts.length === 1 ? "is" : `(${axis.cuts.length} stretches) are`} cut out of the axis` : "",
    ),
  );
  placeTicks(axisEl, gridLines);
  if (scroller !== body) {
    scroller.scrollTop = Number(scroller.dataset.top); // only an attached box scrolls
    scroller.dispatchEvent(new Event("scroll"));
  }
  return root;
}

// Tick labels centred on their tick, kept inside the axis; a label that would touch one
// already placed is left out, with its grid line, and so is a cut's mark (its band in the
// rows below still shows it). One layout for all.
const TICK_GAP_PX = 10;
function placeTicks(axisEl, gridLines) {
  const width = axisEl.clientWidth;
  const marks = [...axisEl.children];
  const sizes = marks.map((el) => el.offsetWidth);
  const taken = [];
  const isCut = (i) => Number(marks[i].classList.contains("cut-mark"));
  const order = marks.map((el, i) => i).sort((a, b) => isCut(a) - isCut(b));
  const ticks = marks.filter((el) => el.classList.contains("tick"));
  for (const i of order) {
    const el = marks[i];
    const centre = (parseFloat(el.dataset.percent) / 100) * width;
    const left = Math.min(Math.max(centre - sizes[i] / 2, 0), Math.max(width - sizes[i], 0));
    const right = left + sizes[i];
    const clash = taken.some(([l, r]) => left < r + TICK_GAP_PX && right > l - TICK_GAP_PX);
    if (clash) {
      el.hidden = true;
      if (!isCut(i)) gridLines[ticks.indexOf(el)].hidden = true;
      continue;
    }
    taken.push([left, right]);
    el.style.left = `${left}px`;
  }
}

// A bar's words: the longest of its texts that fits after it, inside it or before it,
// between its neighbours on the row; never over one of them.
const TEXT_GAP_PX = 6;
let measureContext = null;
function textWidth(text, font) {
  measureContext = measureContext || document.createElement("canvas").getContext("2d");
  measureContext.font = font;
  return measureContext.measureText(text).width;
}
let barFont = "";
function labelBar(bar, previousRight, nextLeft) {
  if (!barFont) barFont = `700 ${0.78 * parseFloat(getComputedStyle(document.documentElement).fontSize)}px ${getComputedStyle(document.body).fontFamily}`;
  const room = {
    "text-after": nextLeft - bar.right - 2 * TEXT_GAP_PX,
    "text-inside": bar.right - bar.left - 2 * TEXT_GAP_PX,
    "text-before": bar.left - previousRight - 2 * TEXT_GAP_PX,
  };
  const text = bar.button.firstChild;
  for (const words of bar.texts) {
    const needed = textWidth(words, barFont);
    const where = Object.keys(room).find((w) => room[w] >= needed);
    if (where) {
      text.textContent = words;
      text.style.maxWidth = `${Math.floor(room[where])}px`;
      bar.button.classList.add(where);
      return;
    }
  }
  bar.button.classList.add("text-none"); // too tight for even its glyph: the tooltip says it
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
