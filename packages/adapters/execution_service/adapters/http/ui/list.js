// The executions list: status chips, filters (workflow, user, start time window), search by
// id, three sorts, live. Every choice is in the address, so that a view can be shared.

import { ApiError, get, query } from "./api.js";
import { ago, formatDuration, formatTime, h, link, parseTime, replace, STATUSES, statusBadge } from "./dom.js";
import { Live } from "./live.js";

const PAGE_SIZE = 50;
// The API's sorts (CONTRACT §4), by what a reader calls them; the first is its default.
export const SORTS = { "-startedAt": "newest first", startedAt: "oldest first", "-updatedAt": "last changed first" };
const PAGER = { "-startedAt": ["← Newer", "Older →"], startedAt: ["← Older", "Newer →"], "-updatedAt": ["← Previous", "Next →"] };

export function listView(root, { params, navigate, setLive }) {
  const filters = {
    status: params.get("status") || "",
    workflowId: params.get("workflowId") || "",
    userId: params.get("userId") || "",
    id: params.get("id") || "",
    startedAfter: params.get("startedAfter") || "",
    startedBefore: params.get("startedBefore") || "",
    sort: SORTS[params.get("sort")] ? params.get("sort") : "",
    page: Math.max(1, Number(params.get("page")) || 1),
  };
  const sort = filters.sort || "-startedAt";
  const started = { startedAfter: filters.startedAfter, startedBefore: filters.startedBefore };
  const chips = h("div", { class: "chips", role: "group", "aria-label": "Status" });
  const summary = h("p", { class: "summary", "aria-live": "polite" });
  const body = h("tbody");
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const form = filterForm(filters, (next) => navigate(`/ui/${query({ ...next, page: "" })}`));
  const drawn = { first: true };
  let rows = [];

  replace(
    root,
    h("div", { class: "page-head" }, h("h1", {}, "Executions"), summary),
    chips,
    form,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "executions" },
        h("thead", {}, h("tr", {}, ...["Status", "Execution", "Workflow", "User", "Started", "Duration", "Nodes"].map((t) => h("th", { scope: "col", class: `col-${t.toLowerCase()}` }, t)))),
        body,
      ),
    ),
    pager,
  );

  let chipsKey = "";
  function drawChips(counts) {
    const key = JSON.stringify(counts);
    if (key === chipsKey) return;
    chipsKey = key;
    const choice = (status, label) =>
      h(
        "button",
        {
          type: "button",
          class: `chip ${status ? `status-${status}` : ""}`,
          "aria-pressed": String(filters.status === status),
          onclick: () => navigate(`/ui/${query({ ...filters, status, page: "" })}`),
        },
        label,
        counts[status || "ALL"] !== undefined ? h("span", { class: "count" }, String(counts[status || "ALL"])) : null,
      );
    replace(chips, choice("", "All"), ...STATUSES.map((s) => choice(s, s)));
  }

  // Polling brings the same page again and again: redraw only what changed, so that focus
  // and the reader's place stay where they were.
  let drawnKey = "";
  function drawRows(total, totalPages) {
    const key = JSON.stringify([rows, total, totalPages]);
    if (key === drawnKey) return;
    drawnKey = key;
    replace(body, rows.length ? rows.map(row) : h("tr", {}, h("td", { colspan: "7", class: "empty" }, emptyText(filters))));
    summary.textContent = filters.id ? "" : `${total.toLocaleString("en")} execution${total === 1 ? "" : "s"}${windowText(filters)}, ${SORTS[sort]}`;
    replace(pager);
    if (totalPages > 1) {
      const to = (page) => `/ui/${query({ ...filters, page: page === 1 ? "" : page })}`;
      pager.append(
        filters.page > 1 ? link(to(filters.page - 1), PAGER[sort][0], { rel: "prev" }) : h("span"),
        h("span", {}, `Page ${filters.page} of ${totalPages.toLocaleString("en")}`),
        filters.page < totalPages ? link(to(filters.page + 1), PAGER[sort][1], { rel: "next" }) : h("span"),
      );
    }
    if (drawn.first) {
      drawn.first = false;
      performance.mark("executions-drawn");
    }
  }

  async function load() {
    if (filters.id) {
      try {
        rows = [await get(`/api/executions/${encodeURIComponent(filters.id)}`)];
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 404)) throw error;
        rows = [];
      }
      drawRows(rows.length, 1);
      return;
    }
    const where = { status: filters.status, workflowId: filters.workflowId, userId: filters.userId, ...started, sort: filters.sort };
    const page = await get(`/api/executions${query({ ...where, page: filters.page, limit: PAGE_SIZE })}`);
    rows = page.data;
    drawRows(page.pagination.total, page.pagination.totalPages);
  }

  let lastCounts = 0;
  async function loadCounts() {
    lastCounts = Date.now();
    const where = { workflowId: filters.workflowId, userId: filters.userId, ...started, limit: 1 };
    const totals = await Promise.all(["", ...STATUSES].map((status) => get(`/api/executions${query({ ...where, status })}`)));
    const counts = {};
    ["ALL", ...STATUSES].forEach((key, i) => (counts[key] = totals[i].pagination.total));
    drawChips(counts);
  }

  // A burst of changes (a big drain) becomes one reload a second, not one per message.
  let pending = null;
  function reloadSoon() {
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      await Promise.all([load(), Date.now() - lastCounts > 2000 ? loadCounts() : null]).catch(() => {});
    }, 1000);
  }

  function onExecution(execution) {
    const at = rows.findIndex((e) => e.id === execution.id);
    const matches = (!filters.status || execution.status === filters.status) && inWindow(execution, filters);
    if (at >= 0 && (!matches || sort === "-updatedAt")) {
      reloadSoon(); // it has left this filter, or (last changed first) moves to the top
    } else if (at >= 0) {
      rows[at] = execution;
      drawnKey = "";
      const old = body.querySelector(`tr[data-id="${CSS.escape(execution.id)}"]`);
      if (old) old.replaceWith(row(execution));
      if (Date.now() - lastCounts > 2000) loadCounts().catch(() => {});
    } else if (!filters.id && matches) {
      reloadSoon();
    }
  }

  drawChips({});
  const ready = Promise.all([load(), loadCounts()]).catch((error) => {
    replace(body, h("tr", {}, h("td", { colspan: "7", class: "error" }, `Could not load the executions: ${error.message}`)));
  });
  // Not filtered by status on the server: a row that leaves the filter must be told too.
  const streamFilters = { workflowId: filters.workflowId, userId: filters.userId };
  const live = new Live({
    url: `/api/executions/stream${query(streamFilters)}`,
    events: { execution: onExecution },
    poll: () => Promise.all([load(), loadCounts()]),
    onMode: setLive,
  });
  ready.then(() => live.start());
  return () => {
    live.stop();
    clearTimeout(pending);
  };
}

function row(execution) {
  const started = parseTime(execution.startedAt) ?? parseTime(execution.createdAt);
  const nodes = execution.nodes || { total: 0, completed: 0, failed: 0, running: 0 };
  return h(
    "tr",
    { dataset: { id: execution.id, status: execution.status } },
    h("td", { class: "col-status" }, statusBadge(execution.status)),
    h("td", { class: "col-execution" }, link(`/ui/executions/${encodeURIComponent(execution.id)}`, execution.id, { class: "mono" }), execution.attempt > 1 ? h("span", { class: "muted" }, ` · attempt ${execution.attempt}`) : null),
    h("td", { class: "col-workflow" }, execution.workflowId || "—"),
    h("td", { class: "col-user" }, execution.userId || "—"),
    h("td", { class: "col-started" }, h("time", { datetime: execution.startedAt || "", title: formatTime(started, true) }, ago(started))),
    h("td", { class: "col-duration" }, execution.duration !== null && execution.duration !== undefined ? formatDuration(execution.duration) : execution.status === "RUNNING" ? "running" : "—"),
    h("td", { class: "col-nodes" }, `${nodes.completed}/${nodes.total} done`, nodes.failed ? h("span", { class: "failed-count" }, ` · ${nodes.failed} failed`) : null, nodes.running ? ` · ${nodes.running} running` : null),
  );
}

function emptyText(filters) {
  if (filters.id) return `No execution with id “${filters.id}”.`;
  return filters.status || filters.workflowId || filters.userId || filters.startedAfter || filters.startedBefore ? "No execution matches these filters." : "No executions yet.";
}

// The window is half-open, as the API's: startedAfter <= startedAt < startedBefore.
function inWindow(execution, { startedAfter, startedBefore }) {
  if (!startedAfter && !startedBefore) return true;
  const started = parseTime(execution.startedAt);
  return started !== null && (!startedAfter || started >= Date.parse(startedAfter)) && (!startedBefore || started < Date.parse(startedBefore));
}

function windowText({ startedAfter, startedBefore }) {
  const at = (iso) => formatTime(Date.parse(iso));
  if (startedAfter && startedBefore) return ` started from ${at(startedAfter)} to before ${at(startedBefore)}`;
  if (startedAfter) return ` started from ${at(startedAfter)}`;
  return startedBefore ? ` started before ${at(startedBefore)}` : "";
}

// A datetime-local control holds a time with no zone: the page reads and writes it as UTC,
// as it shows every time, and the address holds the API's ISO 8601 with Z.
export function toUtcInput(iso) {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? "" : new Date(ms).toISOString().slice(0, 19);
}

export function fromUtcInput(value) {
  if (!value) return "";
  const iso = `${value.length === 16 ? `${value}:00` : value}Z`;
  return Number.isNaN(Date.parse(iso)) ? "" : new Date(Date.parse(iso)).toISOString().replace(".000Z", "Z");
}

function filterForm(filters, apply) {
  const field = (name, label, placeholder) =>
    h("label", { class: "field" }, h("span", {}, label), h("input", { name, value: filters[name], placeholder, autocomplete: "off", spellcheck: "false" }));
  const when = (name, label) => h("label", { class: "field when" }, h("span", {}, label), h("input", { name, type: "datetime-local", step: "1", value: toUtcInput(filters[name]) }));
  const sort = h("select", { name: "sort", onchange: () => form.requestSubmit() }, ...Object.entries(SORTS).map(([value, text]) => h("option", { value: value === "-startedAt" ? "" : value, selected: (filters.sort || "") === (value === "-startedAt" ? "" : value) }, text)));
  const form = h(
    "form",
    { class: "filters", role: "search" },
    field("id", "Execution id", "exact id"),
    field("workflowId", "Workflow", "workflow id"),
    field("userId", "User", "user id"),
    when("startedAfter", "Started from (UTC)"),
    when("startedBefore", "Started before (UTC)"),
    h("label", { class: "field" }, h("span", {}, "Sort"), sort),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Apply"), h("button", { type: "button", class: "plain", onclick: () => apply({ status: "" }) }, "Clear")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = Object.fromEntries([...new FormData(form)].map(([k, v]) => [k, v.trim()]));
    data.startedAfter = fromUtcInput(data.startedAfter);
    data.startedBefore = fromUtcInput(data.startedBefore);
    apply({ status: filters.status, ...data });
  });
  return form;
}
