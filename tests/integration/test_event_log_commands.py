"""`execution-service verify` and `rebuild` as an operator runs them: what they print, their
exit codes, and a rebuild broken off halfway then run again."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from execution_service.adapters.postgres import PostgresEventLog, PostgresUrl, create_database
from execution_service.app.cli import main
from execution_service.domain import Derived, Event, LoggedEvent, derive, parse_message, rebuild
from support.events import history
from support.postgres import BothSides, fresh_database


async def stored(url: PostgresUrl, *statements: str) -> None:
    database = create_database(url)
    await database.connect()
    try:
        events = [e for e in map(parse_message, history(6, 2)) if isinstance(e, Event)]
        await BothSides(database).record(events, [])
        for statement in statements:
            await database.execute(statement)
    finally:
        await database.disconnect()


def test_verify_prints_each_difference_and_exits_1_until_rebuild_puts_it_right(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with fresh_database() as url:
        asyncio.run(stored(url, "UPDATE executions SET error = 'made up' WHERE id = 'e4'"))
        monkeypatch.setenv("DATABASE_URL", url.url())
        assert main(["verify"]) == 1
        out, err = capsys.readouterr()
        assert out == "e4: execution: error: stored 'made up', events fold to None\n"
        assert "verified 6 executions" in err and "1 differences" in err
        assert main(["verify", "--sample", "2"]) in (0, 1)
        assert "verified 2 executions" in capsys.readouterr().err

        assert main(["rebuild", "--workflow", "wf", "--execution", "e4"]) == 0
        assert "rebuilt 1 executions" in capsys.readouterr().err
        assert main(["verify"]) == 0
        assert capsys.readouterr().out == ""
        with pytest.raises(SystemExit):
            main(["rebuild", "--since", "yesterday"])


class Interrupted(Exception):
    pass


async def test_a_rebuild_broken_off_halfway_leaves_whole_chunks_and_runs_again() -> None:
    with fresh_database() as url:
        await stored(url, "UPDATE executions SET error = 'made up'")
        database = create_database(url)
        await database.connect()
        log = PostgresEventLog(database)

        def failing(logged: Sequence[LoggedEvent]) -> Derived:
            if any(b'"e4"' in e.message.data for e in logged):
                raise Interrupted  # broken off inside the second chunk
            return derive(logged)

        try:
            with pytest.raises(Interrupted):
                await rebuild(log, failing, chunk=4)
            wrong = await database.fetch_val(
                "SELECT array_agg(id ORDER BY id) FROM executions WHERE error = 'made up'"
            )
            assert wrong == ["e4", "e5"]  # the first chunk whole, the second untouched
            assert await rebuild(log, derive, chunk=4) == (6, 2)
        finally:
            await database.disconnect()
