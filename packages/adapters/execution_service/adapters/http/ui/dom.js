// Building elements and formatting values. Text always goes in as text (never as HTML), so
// whatever an event carries is shown, not run.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export const STATUSES = ["RUNNING", "COMPLETED", "FAILED", "CANCELLED", "PENDING"];
const GLYPHS = { RUNNING: "▶", COMPLETED: "✓", FAILED: "✕", CANCELLED: "■", PENDING: "…" };

// Status is always a word with a glyph; the colour only repeats it.
export function statusBadge(status) {
  return h("span", { class: `badge status-${status}` }, h("span", { "aria-hidden": "true" }, GLYPHS[status] || "?"), " ", status);
}

export function glyph(status) {
  return GLYPHS[status] || "?";
}

export function parseTime(text) {
  return text ? Date.parse(text) : null;
}

// UTC everywhere: every reader of the page sees the same instant the API returns.
export function formatTime(ms, withMillis = false) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  const iso = new Date(ms).toISOString();
  return iso.slice(0, 10) + " " + iso.slice(11, withMillis ? 23 : 19) + " UTC";
}

export function formatDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  if (minutes < 60) return `${minutes} min ${seconds} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function ago(ms, now = Date.now()) {
  if (!ms) return "";
  const s = Math.round((now - ms) / 1000);
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function jsonBlock(value, label) {
  if (value === null || value === undefined) return h("p", { class: "muted" }, `no ${label}`);
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  return h("pre", { class: "json", tabindex: "0", "aria-label": label }, text);
}

// A payload received as text: pretty when it is JSON, as received when not.
export function payloadBlock(text, label) {
  try {
    return jsonBlock(JSON.parse(text), label);
  } catch {
    return h("pre", { class: "json", tabindex: "0", "aria-label": label }, text);
  }
}

export function link(href, text, props = {}) {
  return h("a", { href, "data-link": "", ...props }, text);
}

export function replace(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}
