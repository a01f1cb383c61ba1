// The timeline's time axis, from data alone (no document): where an instant goes, which
// stretches of time are cut out, and where the ticks fall.
//
// Ticks fall on round steps: 1, 2 or 5 × 10^n of the unit that suits them (ms, s, min, h, d),
// never a step that the next unit says better (100 s is 2 min). A stretch in which no node
// run starts or ends (an idle gap before a retry, or a long run alone) is cut out of the axis
// when a run would otherwise be drawn thinner than MIN_RUN_PX and the stretch is most of the
// time left: a retried execution (attempt 2 an hour after attempt 1), or one that waits long
// on one node, would otherwise squash its other runs into slivers. A cut keeps a narrow band
// of the track (marked //), and says how long it was.

const UNITS = [
  ["ms", 1],
  ["s", 1000],
  ["min", 60_000],
  ["h", 3_600_000],
  ["d", 86_400_000],
];

// The smallest round step of at least `least` ms.
export function tickStep(least) {
  for (let u = 0; u < UNITS.length; u++) {
    const [unit, size] = UNITS[u];
    const next = u + 1 < UNITS.length ? UNITS[u + 1][1] : Infinity;
    for (let power = 1; power * size < next; power *= 10) {
      for (const m of [1, 2, 5]) {
        const step = m * power * size;
        if (step >= next) break;
        if (step >= least) return { step, unit, size };
      }
    }
  }
  return { step: least, unit: "ms", size: 1 }; // unreachable: days go on for ever
}

// `ms` after the start, at the step's precision: in the largest unit that says it exactly
// (400 ms, 1.5 s, 20 min), or as a stopwatch past a minute with a finer step (13:58.5).
export function tickLabel(ms, { step }) {
  if (ms === 0) return "0";
  if (ms >= 60_000 && step < 60_000) return stopwatch(ms, decimalsOf(step / 1000));
  for (let u = UNITS.length - 1; u >= 0; u--) {
    const [unit, size] = UNITS[u];
    if (size > ms && u > 0) continue;
    const decimals = decimalsOf(step / size);
    if (decimals <= 2) return `${trim((ms / size).toFixed(decimals))} ${unit}`;
  }
  return `${ms} ms`;
}

function stopwatch(ms, decimals) {
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = trim(((ms % 60_000) / 1000).toFixed(decimals));
  const ss = seconds.split(".")[0].padStart(2, "0") + (seconds.includes(".") ? "." + seconds.split(".")[1] : "");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${ss}` : `${minutes}:${ss}`;
}

function decimalsOf(x) {
  for (let d = 0; d <= 6; d++) if (Math.abs(Math.round(x * 10 ** d) - x * 10 ** d) < 1e-6) return d;
  return 7;
}

function trim(text) {
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

export const CUT_PX = 22;
export const MIN_RUN_PX = 6;
const MARGIN = 0.05; // of the ordinary time, kept on each side of a cut: the bars around it show

// The stretches cut out of [t0, t1], sorted [start, end] pairs, given the runs' spans. A
// stretch is cut when it is more than twice the ordinary time, all the stretches less than
// half as long together (so that two long gaps between three attempts are cut alike),
// longest first, while a run is too thin.
export function quietCuts(t0, t1, spans, trackPx) {
  const inside = (t) => Math.min(Math.max(t, t0), t1);
  const lengths = spans.map(([s, e]) => e - s).filter((d) => d > 0);
  if (!lengths.length || t1 <= t0) return [];
  const shortest = Math.min(...lengths);
  const instants = [...new Set([t0, t1, ...spans.flat().filter(Number.isFinite).map(inside)])].sort((a, b) => a - b);
  const stretches = instants.slice(1).map((end, i) => [instants[i], end, end - instants[i]]);
  stretches.sort((a, b) => b[2] - a[2]);
  const after = stretches.map((x) => x[2]);
  for (let i = after.length - 2; i >= 0; i--) after[i] += after[i + 1]; // sum from i on
  const most = Math.max(0, Math.floor(trackPx / 3 / CUT_PX));
  const cuts = [];
  let left = t1 - t0; // time not cut out yet
  let shorter = 0; // index of the first stretch less than half as long as the one at hand
  for (const [i, [start, end, length]] of stretches.entries()) {
    while (shorter < stretches.length && stretches[shorter][2] >= length / 2) shorter++;
    const ordinary = shorter < stretches.length ? after[shorter] : 0;
    const pxPerMs = (trackPx - cuts.length * CUT_PX) / left;
    if (i >= most || shortest * pxPerMs >= MIN_RUN_PX || length <= 2 * ordinary) break;
    const margin = Math.min(length / 10, MARGIN * ordinary);
    cuts.push([start + margin, end - margin]);
    left -= length - 2 * margin;
  }
  return cuts.sort((a, b) => a[0] - b[0]);
}

// The axis over [t0, t1] for a track `trackPx` wide: `at(ms)` in percent of the track, the
// cuts (with their place), and the ticks (their offset from t0 and place), at least
// `spacingPx` apart where time runs on.
export function timeAxis(t0, t1, spans, trackPx, spacingPx = 90) {
  const range = Math.max(t1 - t0, 1);
  const cuts = quietCuts(t0, t0 + range, spans, trackPx);
  const cutShare = Math.min((cuts.length * CUT_PX) / trackPx, 1 / 3);
  const kept = range - cuts.reduce((sum, [s, e]) => sum + (e - s), 0);
  const perMs = (100 * (1 - cutShare)) / kept; // percent of the track per kept ms
  const cutPercent = cuts.length ? (100 * cutShare) / cuts.length : 0;
  // Each piece of the axis: [from ms, to ms, left %, width %], kept or cut, in order.
  const pieces = [];
  let ms = t0;
  let left = 0;
  for (const [start, end] of cuts) {
    pieces.push({ from: ms, to: start, left, width: (start - ms) * perMs, cut: false });
    left += (start - ms) * perMs;
    pieces.push({ from: start, to: end, left, width: cutPercent, cut: true });
    left += cutPercent;
    ms = end;
  }
  pieces.push({ from: ms, to: t0 + range, left, width: (t0 + range - ms) * perMs, cut: false });

  const at = (t) => {
    const piece = pieces.find((p) => t <= p.to) || pieces[pieces.length - 1];
    const span = piece.to - piece.from;
    const into = span > 0 ? Math.min(Math.max((t - piece.from) / span, 0), 1) : 0;
    return piece.left + into * piece.width;
  };
  const step = tickStep((spacingPx * kept) / (trackPx * (1 - cutShare)));
  const ticks = [];
  for (const piece of pieces.filter((p) => !p.cut)) {
    const first = Math.ceil((piece.from - t0) / step.step) * step.step;
    for (let offset = first; t0 + offset <= piece.to; offset += step.step) {
      ticks.push({ offset, percent: at(t0 + offset), label: tickLabel(offset, step) });
    }
  }
  return {
    at,
    step,
    ticks,
    cuts: pieces.filter((p) => p.cut).map((p) => ({ start: p.from, end: p.to, left: p.left, width: p.width })),
  };
}
