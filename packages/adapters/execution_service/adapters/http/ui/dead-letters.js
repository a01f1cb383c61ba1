// Events that could not be applied: why, where from, how often, and what they carried.

import { get, query } from "./api.js";
import { formatTime, h, link, parseTime, payloadBlock, replace } from "./dom.js";

const PAGE_SIZE = 20;

export function deadLettersView(root, { params, setLive }) {
  const page = Math.max(1, Number(params.get("page")) || 1);
  const list = h("div", { class: "letters" });
  const summary = h("p", { class: "summary", "aria-live": "polite" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const refresh = h("button", { type: "button", class: "plain", onclick: () => load() }, "Refresh");
  replace(root, h("div", { class: "page-head" }, h("h1", {}, "Dead letters"), summary, refresh), list, pager);
  setLive("static");

  let drawn = "";
  async function load() {
    try {
      const body = await get(`/api/dead-letters${query({ page, limit: PAGE_SIZE })}`);
      const key = JSON.stringify(body);
      if (key === drawn) return;
      drawn = key;
      const { total, totalPages } = body.pagination;
      summary.textContent = `${total.toLocaleString("en")} event${total === 1 ? "" : "s"} could not be applied, most recent first`;
      replace(list, body.data.length ? body.data.map(letter) : h("p", { class: "muted" }, "None: every event was applied."));
      replace(pager);
      if (totalPages > 1) {
        const to = (n) => `/ui/dead-letters${query({ page: n === 1 ? "" : n })}`;
        pager.append(page > 1 ? link(to(page - 1), "← Newer", { rel: "prev" }) : h("span"), h("span", {}, `Page ${page} of ${totalPages}`), page < totalPages ? link(to(page + 1), "Older →", { rel: "next" }) : h("span"));
      }
    } catch (error) {
      replace(list, h("p", { class: "error", role: "alert" }, `Could not load the dead letters: ${error.message}`));
    }
  }
  // No stream carries dead letters: a look every 5 s keeps the page current.
  load();
  const timer = setInterval(load, 5000);
  return () => clearInterval(timer);
}

function letter(d) {
  const headers = Object.entries(d.headers || {});
  return h(
    "article",
    { class: "letter", dataset: { key: d.key } },
    h("h2", { class: "reason" }, d.reason),
    h(
      "dl",
      { class: "facts" },
      ...[
        ["Subject", h("span", { class: "mono" }, d.subject)],
        ["Count", String(d.count)],
        ["First seen", formatTime(parseTime(d.firstSeen), true)],
        ["Last seen", formatTime(parseTime(d.lastSeen), true)],
        ["Key", h("span", { class: "mono" }, d.key)],
      ].map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))),
    ),
    h("h3", {}, d.encoding === "base64" ? "Payload (not UTF-8 text: base64)" : "Payload"),
    payloadBlock(d.payload, "payload"),
    headers.length ? h("details", {}, h("summary", {}, `Headers (${headers.length})`), h("pre", { class: "json" }, headers.map(([k, v]) => `${k}: ${v}`).join("\n"))) : null,
  );
}
