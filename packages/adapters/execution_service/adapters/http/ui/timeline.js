// The trace view: the execution is a trace and its node runs are spans. One time axis, one
// row per node, one bar per attempt, each bar labelled with its status and duration (colour
// only repeats the word). Hover or focus a bar for exact times; click it for the node's detail.
// Bars are placed in percent of the span, so the rows are laid out once by the browser and
// nothing is measured per bar: 500 node runs draw as one fragment.

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

export function drawTimeline(root, { execution, runs, failedRunId, selectedRunId, onSelect, tip }) {
  const now = Date.now();
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

  const bar = (run, label, extraClass = "") => {
    const { start, end } = spanOf(run, now);
    const left = at(start);
    const width = Math.max(at(end) - left, 0);
    const duration = run.duration ?? (run.completedAt ? end - start : null);
    const words = `${run.status}${duration !== null ? ` · ${formatDuration(duration)}` : run.status === "RUNNING" ? ` · ${formatDuration(end - start)} so far` : ""}`;
    const text = `${glyph(run.status)} ${run.attempt > 1 ? `#${run.attempt} ` : ""}${words}`;
    const button = h(
      "button",
      {
        type: "button",
        class: `bar status-${run.status} ${extraClass} ${placement(text.length * 7 + 12, left, width, trackPx)} ${run.id && run.id === selectedRunId ? "selected" : ""}`,
        dataset: { runId: run.id || "", status: run.status },
        "aria-label": `${label}: ${words}, from ${formatTime(start, true)} to ${run.completedAt ? formatTime(end, true) : "now"}`,
      },
      h("span", { class: "bar-text" }, text),
    );
    button.style.left = `${left}%`;
    button.style.width = `max(${width}%, 3px)`;
    const details = { label, run, start, end, duration };
    button.addEventListener("mouseenter", () => tip.show(button, details));
    button.addEventListener("focus", () => tip.show(button, details));
    button.addEventListener("mouseleave", () => tip.hide());
    button.addEventListener("blur", () => tip.hide());
    if (onSelect && run.id) button.addEventListener("click", () => onSelect(run.id));
    return button;
  };

  const body = h("div", { class: "trace-body" }, grid);
  const fragment = document.createDocumentFragment();
  fragment.append(
    h(
      "div",
      { class: "trace-row execution-row", dataset: { status: execution.status } },
      h("div", { class: "trace-label" }, h("strong", {}, "Execution"), h("small", {}, execution.workflowId || execution.id)),
      h("div", { class: "trace-track" }, bar({ ...execution, id: "" }, "Execution", "execution-bar")),
    ),
  );
  for (const attempts of rows) {
    const last = attempts[attempts.length - 1];
    const failed = attempts.some((r) => r.id === failedRunId);
    const name = last.nodeName || last.nodeId;
    fragment.append(
      h(
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
      ),
    );
  }
  body.append(fragment);
  replace(
    root,
    h("div", { class: "trace-head" }, h("div", { class: "trace-label" }, `${rows.length} node${rows.length === 1 ? "" : "s"} · ${runs.length} run${runs.length === 1 ? "" : "s"}`), axis),
    body,
    h("p", { class: "trace-foot muted" }, `${formatTime(t0, true)} → ${formatTime(t1, true)} · ${formatDuration(range)}`),
  );
  return root;
}

function placement(textPx, left, width, trackPx) {
  const room = { "text-after": ((100 - left - width) / 100) * trackPx, "text-inside": (width / 100) * trackPx, "text-before": (left / 100) * trackPx };
  const fits = Object.keys(room).find((where) => room[where] >= textPx);
  return fits || Object.keys(room).reduce((a, b) => (room[a] >= room[b] ? a : b));
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
