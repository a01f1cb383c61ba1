// The execution page's pieces, each drawn from data alone: summary, failure, node run
// detail, retries, history, and the confirmation dialog.

import { ApiError } from "./api.js";
import { formatDuration, formatTime, h, jsonBlock, link, parseTime, replace, statusBadge } from "./dom.js";

export function phrase(status) {
  return { 202: "Accepted", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict", 503: "Service Unavailable" }[status] || "";
}

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
      {},
      h("thead", {}, h("tr", {}, ...["Attempt", "From node", "Requested", "Message id"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, ...retries.map((r) => h("tr", {}, h("td", {}, String(r.attempt)), h("td", { class: "mono" }, r.failedNodeId), h("td", {}, formatTime(parseTime(r.requestedAt), true)), h("td", { class: "mono" }, r.messageId || "—")))),
    )),
  );
}

// The history can hold thousands of events: the first hundred are drawn until asked for
// more, and each one's JSON is formatted when opened.
const HISTORY_SHOWN = 100;
export function drawHistory(el, events) {
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

export function confirmDialog() {
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
