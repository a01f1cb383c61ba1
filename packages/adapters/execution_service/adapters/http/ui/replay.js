// The timeline as it stood: a slider over the execution's recorded history, from when the
// service first heard of it (createdAt) to its last change (updatedAt), by the service's own
// recorded times (GET …?at=, CONTRACT); its right end is the current state, live. Play walks
// the history in STEPS steps.

import { allNodeRuns, get } from "./api.js";
import { formatTime, h } from "./dom.js";

const STEPS = 40;
const STEP_MS = 150;

export function replayControl(id, onMoment) {
  let from = 0;
  let to = 0;
  let asked = 0;
  let playing = null;
  const slider = h("input", { type: "range", min: "0", max: String(STEPS), step: "1", value: String(STEPS), class: "replay-slider", "aria-label": "Show the timeline as it stood at this moment of its recorded history" });
  const play = h("button", { type: "button", class: "replay-play", "aria-pressed": "false" }, "▶ Replay");
  const label = h("output", { class: "replay-at", "aria-live": "polite" }, "now");
  const el = h("div", { class: "replay", role: "group", "aria-label": "Replay the recorded history" }, play, slider, label);

  // The first moment is createdAt's millisecond, whole: the API gives times to the ms, the
  // first events were recorded within it.
  const momentOf = (step) => Math.min(from + 1 + ((to - from) * step) / STEPS, to);

  async function show(step) {
    const ask = ++asked;
    if (step >= STEPS) {
      label.textContent = "now";
      el.dataset.at = "";
      onMoment(null);
      return;
    }
    const at = new Date(Math.floor(momentOf(step))).toISOString();
    label.textContent = `as it stood at ${formatTime(Date.parse(at), true)}`;
    try {
      const path = `/api/executions/${encodeURIComponent(id)}`;
      const [execution, runs] = await Promise.all([get(`${path}?at=${encodeURIComponent(at)}`), allNodeRuns(id, {}, at)]);
      if (ask !== asked) return; // a later position was asked meanwhile
      el.dataset.at = at;
      onMoment({ at: Date.parse(at), execution, runs });
    } catch (error) {
      if (ask !== asked) return;
      label.textContent = error.status === 409 ? "that moment is not settled yet: writes are in flight" : `could not load that moment: ${error.message}`;
    }
  }

  function stop() {
    clearInterval(playing);
    playing = null;
    play.textContent = "▶ Replay";
    play.setAttribute("aria-pressed", "false");
  }

  slider.addEventListener("input", () => {
    if (playing) stop();
    show(Number(slider.value));
  });
  play.addEventListener("click", () => {
    if (playing) return stop();
    if (Number(slider.value) >= STEPS) slider.value = "0";
    play.textContent = "❚❚ Pause";
    play.setAttribute("aria-pressed", "true");
    show(Number(slider.value));
    playing = setInterval(() => {
      slider.value = String(Number(slider.value) + 1);
      show(Number(slider.value));
      if (Number(slider.value) >= STEPS) stop();
    }, STEP_MS);
  });

  return {
    el,
    // The span follows the execution as it changes; a history recorded in one moment has none.
    update(execution) {
      from = Date.parse(execution.createdAt);
      to = Date.parse(execution.updatedAt);
      const flat = !(to > from + 1);
      slider.disabled = play.disabled = flat;
      el.classList.toggle("flat", flat);
    },
    stop() {
      stop();
      asked++;
    },
  };
}
