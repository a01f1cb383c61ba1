// Events that could not be applied: why, where from, how often, and what they carried; the
// execution a payload names; and the two things to do with one: Replay (publish it again, as
// received, for the service to apply once it can) or Discard (delete it, saying why).

import { get, phrase, query, request } from "./api.js";
import { confirmDialog } from "./dialog.js";
import { formatTime, h, link, parseTime, payloadBlock, replace } from "./dom.js";

const PAGE_SIZE = 20;

export function deadLettersView(root, { params, setLive }) {
  const page = Math.max(1, Number(params.get("page")) || 1);
  const list = h("div", { class: "letters" });
  const summary = h("p", { class: "summary", "aria-live": "polite" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const refresh = h("button", { type: "button", class: "plain", onclick: () => load() }, "Refresh");
  const dialog = confirmDialog();
  // What the last action on each letter answered: kept across redraws until the page is left.
  const results = new Map();
  replace(root, h("div", { class: "page-head" }, h("h1", {}, "Dead letters"), summary, refresh), list, pager, dialog.el);
  setLive("static");

  let drawn = "";
  async function load() {
    try {
      const body = await get(`/api/dead-letters${query({ page, limit: PAGE_SIZE })}`);
      const key = JSON.stringify([body, [...results]]);
      if (key === drawn) return;
      drawn = key;
      const { total, totalPages } = body.pagination;
      summary.textContent = `${total.toLocaleString("en")} event${total === 1 ? "" : "s"} could not be applied, most recent first`;
      // A discarded letter leaves the list; what the service answered stays in view.
      const gone = [...results].filter(([k]) => !body.data.some((d) => d.key === k));
      const answers = gone.map(([k, r]) => resultLine(r, k));
      const letters = body.data.map((d) => letter(d, results.get(d.key), act));
      replace(list, ...answers, letters.length ? letters : h("p", { class: "muted" }, "None: every event was applied."));
      replace(pager);
      if (totalPages > 1) {
        const to = (n) => `/ui/dead-letters${query({ page: n === 1 ? "" : n })}`;
        pager.append(page > 1 ? link(to(page - 1), "← Newer", { rel: "prev" }) : h("span"), h("span", {}, `Page ${page} of ${totalPages}`), page < totalPages ? link(to(page + 1), "Older →", { rel: "next" }) : h("span"));
      }
    } catch (error) {
      replace(list, h("p", { class: "error", role: "alert" }, `Could not load the dead letters: ${error.message}`));
    }
  }

  async function act(d, action) {
    const path = `/api/dead-letters/${encodeURIComponent(d.key)}`;
    let answer;
    if (action === "replay") {
      const ok = await dialog.ask(
        `Replay this ${d.subject} event?`,
        "It is published again on its subject, exactly as received. If it is rejected again it comes back here with its count up; if it applies now, it applies once.",
        { action: "Replay" },
      );
      if (!ok) return;
      answer = await send("POST", `${path}/replay`, (body) => `Replayed: published again as message ${body.messageId} (replay ${body.replays}).`);
    } else {
      const reason = await dialog.ask(`Discard this ${d.subject} event?`, "It is deleted from the dead letters for good; the reason is logged by the service with its key.", { action: "Discard", askReason: true });
      if (!reason) return;
      answer = await send("DELETE", `${path}${query({ reason })}`, () => `Discarded ${d.key}: “${reason}”.`);
    }
    results.set(d.key, answer);
    drawn = "";
    await load();
  }

  // No stream carries dead letters: a look every 5 s keeps the page current.
  load();
  const timer = setInterval(load, 5000);
  return () => clearInterval(timer);
}

async function send(method, path, said) {
  try {
    const { status, body } = await request(method, path);
    return { ok: true, status, text: said(body || {}) };
  } catch (error) {
    const why = error.status === 401 || error.status === 403 ? "the service wants an API token: set one with “API token” above." : error.status === 503 ? "the service could not publish it; nothing was changed. Try again in a moment." : error.message;
    return { ok: false, status: error.status, text: `Not done: ${why}` };
  }
}

function resultLine(result, key) {
  const said = result.status ? `${result.status} ${phrase(result.status)}` : "Not sent";
  return h("p", { class: `result ${result.ok ? "ok" : "bad"}`, role: "status", dataset: { key, status: String(result.status ?? "") } }, h("strong", {}, said), " — ", result.text);
}

// The execution a payload is about, when it names one (data.executionId).
export function executionOf(payload) {
  try {
    const id = JSON.parse(payload).data.executionId;
    return typeof id === "string" && id ? id : null;
  } catch {
    return null;
  }
}

function letter(d, result, act) {
  const headers = Object.entries(d.headers || {});
  const execution = d.encoding === "utf-8" ? executionOf(d.payload) : null;
  const replayed = d.replayedAt ? `replayed ${formatTime(parseTime(d.replayedAt), true)}${d.replays > 1 ? ` (${d.replays} times)` : ""}, not rejected since` : null;
  return h(
    "article",
    { class: "letter", dataset: { key: d.key, count: String(d.count) } },
    h("div", { class: "title-row" }, h("h2", { class: "reason" }, d.reason), h(
      "div",
      { class: "letter-actions" },
      h("button", { type: "button", class: "replay", onclick: () => act(d, "replay") }, "Replay…"),
      h("button", { type: "button", class: "plain discard", onclick: () => act(d, "discard") }, "Discard…"),
    )),
    result ? resultLine(result, d.key) : null,
    h(
      "dl",
      { class: "facts" },
      ...[
        ["Subject", h("span", { class: "mono" }, d.subject)],
        ["Execution", execution ? link(`/ui/executions/${encodeURIComponent(execution)}`, execution, { class: "mono execution-link" }) : null],
        ["Count", String(d.count)],
        ["First seen", formatTime(parseTime(d.firstSeen), true)],
        ["Last seen", formatTime(parseTime(d.lastSeen), true)],
        ["Replayed", replayed],
        ["Key", h("span", { class: "mono" }, d.key)],
      ]
        .filter(([, v]) => v !== null)
        .map(([k, v]) => h("div", { class: k === "Subject" || k === "Key" ? "wide" : null }, h("dt", {}, k), h("dd", {}, v))),
    ),
    h("h3", {}, d.encoding === "base64" ? "Payload (not UTF-8 text: base64)" : "Payload"),
    payloadBlock(d.payload, "payload"),
    headers.length ? h("details", {}, h("summary", {}, `Headers (${headers.length})`), h("pre", { class: "json" }, headers.map(([k, v]) => `${k}: ${v}`).join("\n"))) : null,
  );
}
