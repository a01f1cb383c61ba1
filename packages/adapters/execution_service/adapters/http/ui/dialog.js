// One modal dialog that asks before an action (Retry, Replay, Discard), optionally with a
// reason to give; the browser's <dialog> keeps the keyboard inside it and Escape cancels.

import { h } from "./dom.js";

export function confirmDialog() {
  const title = h("h2", { id: "confirm-title" });
  const text = h("p");
  const reason = h("textarea", { id: "confirm-reason", rows: "3", maxlength: "500" });
  reason.addEventListener("input", () => reason.setCustomValidity(reason.required && !reason.value.trim() ? "Say why." : ""));
  const reasonField = h("label", { class: "field", for: "confirm-reason" }, h("span", {}, "Reason (required, kept in the service's log)"), reason);
  const confirm = h("button", { value: "confirm", class: "primary", autofocus: true });
  const form = h("form", { method: "dialog" }, title, text, reasonField, h("div", { class: "actions" }, h("button", { value: "cancel", class: "plain", formnovalidate: true }, "Cancel"), confirm));
  const el = h("dialog", { class: "confirm", "aria-labelledby": "confirm-title" }, form);
  return {
    el,
    // Resolves to false (cancelled), true, or the reason given when one was asked for.
    ask(heading, body, { action = "Retry", askReason = false } = {}) {
      title.textContent = heading;
      text.textContent = body;
      confirm.textContent = action;
      reasonField.hidden = !askReason;
      reason.required = askReason;
      reason.value = "";
      reason.setCustomValidity(askReason ? "Say why." : "");
      el.returnValue = "";
      el.showModal();
      if (askReason) reason.focus();
      return new Promise((resolve) =>
        el.addEventListener("close", () => resolve(el.returnValue !== "confirm" ? false : askReason ? reason.value.trim() : true), { once: true }),
      );
    },
  };
}
