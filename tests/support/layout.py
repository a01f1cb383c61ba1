"""What a reader would see wrong on the page, measured in the browser: labels that overlap,
text cut off or broken inside a word, bars too thin to see. Each returns the problems found
(empty when there are none), so that a failing assertion says what and where."""

from __future__ import annotations

from typing import Any

from selenium.webdriver import Chrome

# Rectangles of the elements a selector finds, as the browser laid them out.
_RECTS = """
const box = (el) => { const r = el.getBoundingClientRect();
  return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width}; };
const overlap = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5
  && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
const shown = (el) => el.getClientRects().length > 0 && el.textContent.trim() !== '';
"""


def tick_problems(browser: Chrome) -> list[str]:
    """Visible tick labels and cut marks that overlap one another or leave the axis."""
    return list(
        browser.execute_script(
            _RECTS
            + """
            const problems = [];
            const axis = document.querySelector('.trace-axis');
            const area = box(axis);
            const marks = [...axis.children].filter(shown);
            marks.forEach((a, i) => {
              const ra = box(a);
              if (ra.left < area.left - 0.5 || ra.right > area.right + 0.5)
                problems.push(`${a.textContent} leaves the axis`);
              marks.slice(i + 1).forEach((b) => {
                if (overlap(ra, box(b)))
                  problems.push(`${a.textContent} overlaps ${b.textContent}`);
              });
            });
            if (marks.filter((m) => m.classList.contains('tick')).length < 2)
              problems.push('fewer than two ticks');
            return problems;"""
        )
    )


def tick_steps(browser: Chrome) -> dict[str, Any]:
    """The axis's step (ms) and unit, and every visible tick's offset (ms)."""
    return dict(
        browser.execute_script(
            """const axis = document.querySelector('.trace-axis');
            return {step: Number(axis.dataset.step), unit: axis.dataset.unit,
                    ticks: [...axis.querySelectorAll('.tick:not([hidden])')]
                      .map((t) => Number(t.dataset.ms))};"""
        )
    )


def bar_label_problems(browser: Chrome) -> list[str]:
    """A bar's words over another bar or another bar's words on its row, or out of its
    track (cut off)."""
    return list(
        browser.execute_script(
            _RECTS
            + """
            const problems = [];
            for (const row of document.querySelectorAll('.trace-row')) {
              const track = box(row.querySelector('.trace-track'));
              const bars = [...row.querySelectorAll('.bar')];
              const texts = bars.map((b) => b.querySelector('.bar-text'));
              texts.forEach((text, i) => {
                if (!shown(text)) return;
                const name = `${row.dataset.nodeId || 'execution'}: ${text.textContent}`;
                const t = box(text);
                if (t.left < track.left - 0.5 || t.right > track.right + 0.5)
                  problems.push(`${name} leaves its track`);
                if (text.scrollWidth > text.clientWidth + 1) problems.push(`${name} is cut`);
                bars.forEach((bar, j) => {
                  if (j !== i && overlap(t, box(bar))) problems.push(`${name} is over a bar`);
                  if (j !== i && shown(texts[j]) && overlap(t, box(texts[j])))
                    problems.push(`${name} is over ${texts[j].textContent}`);
                });
              });
            }
            return problems;"""
        )
    )


def thin_bars(browser: Chrome, least_px: float) -> list[str]:
    """Bars of node runs that ran for a while (COMPLETED or FAILED) narrower than least_px."""
    return list(
        browser.execute_script(
            """return [...document.querySelectorAll(
                '.trace-row:not(.execution-row) .bar[data-status=COMPLETED],'
                + '.trace-row:not(.execution-row) .bar[data-status=FAILED]')]
              .filter((b) => b.getBoundingClientRect().width < arguments[0])
              .map((b) =>
                `${b.getAttribute('aria-label')}: ${b.getBoundingClientRect().width} px`);""",
            least_px,
        )
    )


def broken_or_cut(browser: Chrome, selector: str) -> list[str]:
    """Inside the elements `selector` finds: a word split across lines, or content wider
    than its box (cut off, or scrolled out of sight)."""
    return list(
        browser.execute_script(
            """const problems = [];
            for (const el of document.querySelectorAll(arguments[0])) {
              if (el.scrollWidth > el.clientWidth + 1)
                problems.push(
                  `${el.className || el.tagName} is cut: ${el.scrollWidth} > ${el.clientWidth}`);
              const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
              for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                for (const m of node.data.matchAll(/\\S+/g)) {
                  const range = document.createRange();
                  range.setStart(node, m.index);
                  range.setEnd(node, m.index + m[0].length);
                  const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
                  if (lines.size > 1) problems.push(`"${m[0]}" is broken across lines`);
                }
              }
            }
            return problems;""",
            selector,
        )
    )
