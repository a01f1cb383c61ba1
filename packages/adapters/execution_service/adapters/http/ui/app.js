// The page's router: each path under /ui/ is a view, drawn without reloading (History API),
// so every view can be linked to and reloaded.

import { setToken, token } from "./api.js";
import { deadLettersView } from "./dead-letters.js";
import { h, replace } from "./dom.js";
import { executionView } from "./execution.js";
import { listView } from "./list.js";
import { modeText } from "./live.js";

const main = document.getElementById("main");
const liveBadge = document.getElementById("live");
let stopView = () => {};

function setLive(mode) {
  liveBadge.dataset.mode = mode;
  liveBadge.textContent = mode === "static" ? "" : modeText(mode);
}

function navigate(url) {
  history.pushState(null, "", url);
  route();
}

function route() {
  stopView();
  setLive("static");
  const { pathname, searchParams } = new URL(location.href);
  const context = { params: searchParams, navigate, setLive };
  const execution = pathname.match(/^\/ui\/executions\/([^/]+)$/);
  for (const a of document.querySelectorAll(".nav a")) {
    const current = a.getAttribute("href") === "/ui/" ? pathname === "/ui/" || !!execution : pathname.startsWith(a.getAttribute("href"));
    if (current) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (execution) {
    const id = decodeURIComponent(execution[1]);
    document.title = `${id} · Executions`;
    stopView = executionView(main, { id, params: searchParams, setLive });
  } else if (pathname === "/ui/dead-letters") {
    document.title = "Dead letters · Execution Service";
    stopView = deadLettersView(main, context);
  } else {
    document.title = "Executions · Execution Service";
    stopView = listView(main, context);
  }
  main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

// Same-page links navigate in place; a modified click (new tab) is left to the browser.
document.addEventListener("click", (event) => {
  const a = event.target.closest("a[data-link]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", route);

function tokenControl() {
  const input = h("input", { type: "password", id: "token-input", autocomplete: "off", value: token() });
  const state = h("span", { class: "token-state" });
  const show = () => (state.textContent = token() ? "set" : "none");
  const dialog = h(
    "dialog",
    { class: "confirm", "aria-labelledby": "token-title" },
    h(
      "form",
      { method: "dialog" },
      h("h2", { id: "token-title" }, "API token"),
      h("p", { class: "muted" }, "Sent as “Authorization: Bearer …” on every request. Kept in this tab only (sessionStorage)."),
      h("label", { class: "field", for: "token-input" }, h("span", {}, "Token"), input),
      h("div", { class: "actions" }, h("button", { value: "clear", class: "plain" }, "Clear"), h("button", { value: "save", class: "primary" }, "Save")),
    ),
  );
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "save") setToken(input.value.trim());
    if (dialog.returnValue === "clear") setToken("");
    input.value = token();
    show();
  });
  show();
  const button = h("button", { type: "button", class: "plain token", onclick: () => dialog.showModal() }, "API token: ", state);
  return [button, dialog];
}

document.getElementById("token").replaceWith(...tokenControl());
route();
