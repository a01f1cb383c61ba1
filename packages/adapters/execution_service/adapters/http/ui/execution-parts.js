// The execution page's pieces, each drawn from data alone: summary, failure, the execution's
// own input, output and metadata, how long a running one has been quiet, node run detail,
// retries and history.

import { ApiError } from "./api.js";
import { formatDuration, formatTime, h, jsonBlock, link, parseTime, replace, statusBadge } from "./dom.js";

export function retryError(error) {
  if (!(error instanceof ApiError)) return `the request did not reach the service (${error.message}).`;
  const message = error.body && error.body.message;
  if (error.status === 409) return `it cannot be retried now: ${message}.`;
  if (error.status === 503) return "the service could not publish the request to the orchestrator; nothing was recorded. Try again in a moment.";
  if (error.status === 401 || error.status === 403) return "the service wants an API token: set one with “API token” above.";
  return message || "the service refused it.";
}

export function drawHead(el, e, retry) {
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

export function drawFailure(el, e, failed, select) {
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

// The execution's own data, beside its error at the top of the page.
export function drawData(el, e) {
  const items = [
    ["Input", e.input],
    ["Output", e.output],
    ["Metadata", e.metadata],
  ];
  replace(el, h("div", { class: "io io-3" }, ...items.map(([title, value]) => h("div", { dataset: { part: title.toLowerCase() } }, h("h3", {}, title), jsonBlock(value, title.toLowerCase())))));
}

// A RUNNING execution that nothing has been heard of for a while says so: an orchestrator
// that died leaves it RUNNING for ever.
export const QUIET_AFTER_MS = 30_000;

// The latest event about the execution, by the events' own time (what the timeline shows);
// from its node runs and its own times (and when it last changed) before the history is in.
export function lastEvent(execution, runs, history) {
  let last = { at: null, what: "" };
  const consider = (at, what = "") => {
    if (at !== null && !Number.isNaN(at) && (last.at === null || at > last.at)) last = { at, what };
  };
  for (const item of history || []) {
    const event = item.event || {};
    const node = event.data && event.data.nodeId ? ` · ${event.data.nodeId}` : "";
    consider(parseTime(event.timestamp), `${item.subject}${node}`);
  }
  for (const run of runs) {
    consider(parseTime(run.startedAt), `node ${run.nodeId} started`);
    consider(parseTime(run.completedAt), `node ${run.nodeId} ${String(run.status).toLowerCase()}`);
  }
  consider(parseTime(execution.startedAt), "execution started");
  if (last.at === null) consider(parseTime(execution.updatedAt));
  return last;
}

export function drawQuiet(el, e, last, now = Date.now()) {
  const quiet = last.at === null ? 0 : now - last.at;
  if (e.status !== "RUNNING" || quiet < QUIET_AFTER_MS) return replace(el);
  replace(
    el,
    h(
      "p",
      { class: "quiet", dataset: { quietMs: String(quiet) } },
      h("strong", {}, `Quiet for ${formatDuration(quiet)}`),
      `: no event since ${formatTime(last.at, true)}${last.what ? ` (${last.what})` : ""}. `,
      "An orchestrator that stopped would leave it RUNNING.",
    ),
  );
}

export function drawDetail(el, run) {
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

export function drawRetries(el, retries) {
  if (!retries.length) return replace(el, h("p", { class: "muted" }, "None."));
  replace(
    el,
    h("div", { class: "table-wrap" }, h(
      "table",
      { class: "retries" },
      h("thead", {}, h("tr", {}, ...["Attempt", "From node", "Requested", "Message id"].map((t) => h("th", { scope: "col" }, t)))),
      h(
        "tbody",
        {},
        ...retries.map((r) =>
          h(
            "tr",
            {},
            h("td", { dataset: { label: "Attempt" } }, String(r.attempt)),
            h("td", { class: "mono", dataset: { label: "From node" } }, r.failedNodeId),
            h("td", { dataset: { label: "Requested" } }, formatTime(parseTime(r.requestedAt), true)),
            h("td", { class: "mono", dataset: { label: "Message id" } }, r.messageId || "—"),
          ),
        ),
      ),
    )),
  );
}

// The history can hold thousands of events: the first hundred are drawn until asked for
// more, and each one's JSON is formatted when opened. In the order the service recorded them
// (arrival), or by their own `timestamp` (when they happened; ties in arrival order); each
// keeps its arrival number.
const HISTORY_SHOWN = 100;
export const HISTORY_ORDERS = { arrival: "As received", time: "By event time" };
export function drawHistory(el, events, order, onOrder) {
  if (!events.length) return replace(el, h("p", { class: "muted" }, "No events."));
  const numbered = events.map((item, index) => ({ item, index }));
  if (order === "time") {
    const at = ({ item }) => parseTime(item.event && item.event.timestamp) ?? Infinity;
    numbered.sort((a, b) => at(a) - at(b) || a.index - b.index);
  }
  const items = numbered.map(({ item, index }) => {
    const event = item.event || {};
    const node = event.data && event.data.nodeId ? ` · ${event.data.nodeId}` : "";
    const attempt = event.data && event.data.attempt > 1 ? ` · attempt\u00a0${event.data.attempt}` : "";
    const details = h(
      "details",
      { class: "event", dataset: { key: item.key, arrival: String(index + 1) } },
      h("summary", {}, h("span", { class: "num" }, `#${index + 1}`), h("time", {}, formatTime(parseTime(event.timestamp), true)), h("span", { class: "mono" }, `${item.subject}${node}${attempt}`)),
    );
    details.addEventListener("toggle", () => {
      if (details.open && details.children.length === 1) details.append(h("p", { class: "muted mono" }, `key ${item.key}`), jsonBlock(event, "event"));
    });
    return details;
  });
  const choice = (value) => h("button", { type: "button", class: "chip", "aria-pressed": String(order === value), dataset: { order: value }, onclick: () => onOrder(value) }, HISTORY_ORDERS[value]);
  const shown = items.length > HISTORY_SHOWN ? items.slice(0, HISTORY_SHOWN) : items;
  const more = h("button", { type: "button", class: "plain", onclick: () => more.replaceWith(...items.slice(HISTORY_SHOWN)) }, `Show all ${events.length} events`);
  const said = order === "time" ? "by when they happened (their timestamp); # is the order received" : "in the order received";
  replace(
    el,
    h("div", { class: "history-head" }, h("p", { class: "muted" }, `${events.length} event${events.length === 1 ? "" : "s"}, ${said}`), h("div", { class: "chips", role: "group", "aria-label": "Order" }, choice("arrival"), choice("time"))),
    ...shown,
    items.length > HISTORY_SHOWN ? more : null,
  );
}
