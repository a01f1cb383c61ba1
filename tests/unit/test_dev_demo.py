"""What `dev` prints and what its demo publishes, apart from running it (tests/e2e/test_dev.py
runs it): the banner's commands, a password kept out of it, and the next attempt the demo's
stand-in orchestrator runs for a retry."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

from execution_service.app import Settings
from execution_service.app.banner import RUN, banner
from execution_service.app.demo import is_demo, next_attempt, workflow


def commands(text: str) -> dict[str, list[str]]:
    """The banner's ready-to-paste lines, by the command they run."""
    found = {}
    for line in text.splitlines():
        if RUN in line:
            words = shlex.split(line)
            found[words[-1] if words[-1] != "--dry-run" else "prune"] = words
    return found


def test_the_banner_prints_the_database_and_commands_that_use_it() -> None:
    url = "postgresql://postgres@/execution_service?host=%2Ftmp%2Fa+b%2Fpg"
    settings = Settings.from_env({"DATABASE_URL": url, "EXECUTION_RETENTION": "12h"})
    text = banner(settings, stand_in=True)
    assert f"  Database    {settings.require_database().url()}\n" in text
    found = commands(text)
    assert set(found) == {"publish-demo", "prune", "migrate"}
    # As a shell reads them: the URL whole, whatever it holds.
    assert found["prune"][:2] == [f"DATABASE_URL={settings.require_database().url()}",
                                  "EXECUTION_RETENTION=12h"]  # fmt: skip
    assert found["prune"][-2:] == ["prune", "--dry-run"]
    assert found["migrate"][0] == found["prune"][0]
    assert "the demo stands in for one" in text
    assert "stands in" not in banner(settings, stand_in=False)


def test_a_retention_pass_is_shown_with_30_days_when_none_is_set() -> None:
    settings = Settings.from_env({"DATABASE_URL": "postgresql://u@h/db"})
    assert commands(banner(settings, stand_in=False))["prune"][1] == "EXECUTION_RETENTION=30d"


def test_a_password_stays_out_of_the_banner() -> None:
    settings = Settings.from_env({"DATABASE_URL": "postgresql://u:s3cret@h:5432/db"})
    text = banner(settings, stand_in=False)
    assert "s3cret" not in text
    assert "  Database    postgresql://u:***@h:5432/db\n" in text
    assert not any(w.startswith("DATABASE_URL=") for w in commands(text)["migrate"])
    assert "holds a password" in text


def test_the_next_attempt_runs_from_the_failed_node_then_completes() -> None:
    request = {"executionId": "demo-failed", "workflowId": "wf", "userId": "u",
               "failedNodeId": "search", "attempt": 2}  # fmt: skip
    steps = next_attempt(request)
    subjects = [(subject, data.get("nodeId")) for _, subject, data in steps]
    assert subjects == [
        ("execution.node.started", "search"),
        ("execution.node.completed", "search"),
        ("execution.node.started", "write"),
        ("execution.node.completed", "write"),
        ("execution.completed", None),
    ]
    assert all(data["attempt"] == 2 and data["executionId"] == "demo-failed"
               for _, _, data in steps)  # fmt: skip
    assert all(pause > 0 for pause, _, _ in steps)  # the page has time to show it running


def test_a_demo_execution_is_known_by_its_metadata() -> None:
    started = workflow("failed", datetime.now(UTC))[0][1]["data"]
    assert is_demo(started["metadata"])
    assert not is_demo(None) and not is_demo({"demo": "yes"}) and not is_demo([])
