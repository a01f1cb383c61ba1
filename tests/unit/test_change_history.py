"""Last-Event-ID: what a replica can tell a reconnecting client it missed, and when it can't."""

from __future__ import annotations

from execution_service.adapters.http.resume import ChangeHistory


def history(
    margin_ms: int = 100, keep_ms: int = 10_000, keep_ids: int = 1000
) -> tuple[ChangeHistory, list[int]]:
    now = [1_000]
    return ChangeHistory(lambda: now[0], keep_ms, keep_ids, margin_ms), now


def test_changes_since_an_id_less_the_margin() -> None:
    h, now = history()
    h.listening()
    for at, ids in ((1_100, {"a"}), (1_500, {"b"}), (1_700, {"c", "a"})):
        now[0] = at
        h.heard(frozenset(ids))
    assert h.changed_since("1700") == {"a", "c"}
    assert h.changed_since("1600") == {"a", "b", "c"}  # less the margin, it reaches b
    assert h.changed_since("1601") == {"a", "c"}
    assert h.changed_since("1800") == {"a", "c"}
    assert h.changed_since("1801") == set()


def test_it_cant_tell_before_it_listened_nor_after_a_gap_nor_a_bad_id() -> None:
    h, now = history()
    assert h.changed_since("5000") is None  # not listening yet
    h.listening()
    now[0] = 1_200
    h.heard(frozenset({"a"}))
    assert h.changed_since("1050") is None  # 950 is before it listened
    assert h.changed_since("1100") == {"a"}
    now[0] = 2_000
    h.listening()  # a gap
    assert h.changed_since("1500") is None
    assert h.changed_since("0") is None and h.changed_since("x") is None
    assert h.changed_since(None) is None


def test_what_it_forgets_it_can_no_longer_tell() -> None:
    h, now = history(keep_ids=3)
    h.listening()
    for i, at in enumerate(range(1_100, 1_600, 100)):
        now[0] = at
        h.heard(frozenset({f"e{i}"}))
    assert h.changed_since("1400") == {"e2", "e3", "e4"}
    assert h.changed_since("1300") is None  # e1, heard at 1200, is forgotten
    h2, now2 = history(keep_ms=1_000)
    h2.listening()
    now2[0] = 1_100
    h2.heard(frozenset({"x"}))
    now2[0] = 3_000
    h2.heard(frozenset({"y"}))
    assert h2.changed_since("1200") is None
    assert h2.changed_since("2900") == {"y"}
