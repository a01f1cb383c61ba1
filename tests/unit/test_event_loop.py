"""serve (and dev, which calls it) runs the service on uvloop."""

from __future__ import annotations

from typing import Any

import pytest
import uvloop

from execution_service.app import commands
from execution_service.app.settings import Settings


def test_serve_runs_the_app_on_a_uvloop_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    given: dict[str, Any] = {}
    monkeypatch.setattr(commands, "migrate", lambda settings: None)
    monkeypatch.setattr(commands.web, "run_app", lambda app, **options: given.update(options))
    commands.serve(Settings())
    assert isinstance(given["loop"], uvloop.Loop)
    given["loop"].close()
