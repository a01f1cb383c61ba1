"""deploy/: the alert rules pass promtool (syntax, and each alert on the series it is for),
and the rules and the dashboard name only metrics the service exposes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from execution_service.adapters.http import HttpMetrics
from execution_service.adapters.prometheus import PrometheusBatchObserver, RuntimeGauges

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus-rules.yml"
DASHBOARD = DEPLOY / "grafana-dashboard.json"
METRIC = re.compile(r"\bexecution_service_[a-z_]+\b")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}
# Pants runs tests with a scrubbed PATH; Debian's package puts promtool in /usr/bin.
PROMTOOL = shutil.which("promtool", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin"]))
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed (Debian: apt-get install prometheus; .ci/run does)",
)


def exposed() -> dict[str, str]:
    """Every sample name the service can expose (and each family's own name, as a text may
    mention it), to the family it belongs to."""
    registry = CollectorRegistry()
    PrometheusBatchObserver(registry)
    RuntimeGauges(registry, "test")
    HttpMetrics(registry)
    families = list(registry.collect())
    return {f.name: f.name for f in families} | {
        f.name + suffix: f.name for f in families for suffix in SUFFIXES[f.type]
    }


def dashboard_exprs() -> dict[str, list[str]]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return {p["title"]: [t["expr"] for t in p["targets"]] for p in panels}


@needs_promtool
def test_promtool_accepts_the_rules_and_each_alert_fires_on_its_own_test_series() -> None:
    assert PROMTOOL
    for command in (["check", "rules", RULES.name], ["test", "rules", RULES.stem + ".test.yml"]):
        result = subprocess.run(
            [PROMTOOL, *command], cwd=DEPLOY, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_name_only_metrics_the_service_exposes() -> None:
    named = set(METRIC.findall(RULES.read_text()))
    assert named, "no metric named in the rules"
    assert named - exposed().keys() == set()


def test_every_dashboard_panel_has_a_title_and_queries_metrics_that_exist() -> None:
    panels = dashboard_exprs()
    assert len(panels) >= 10
    names = exposed()
    shown = set()
    for title, exprs in panels.items():
        assert title.strip() and exprs, title
        for expr in exprs:
            found = set(METRIC.findall(expr))
            assert found, f"{title!r} queries no metric of the service: {expr}"
            assert found - names.keys() == set(), f"{title!r} names a metric that does not exist"
            shown |= {names[n] for n in found}
    assert set(names.values()) - shown == set(), "a metric with no panel"
