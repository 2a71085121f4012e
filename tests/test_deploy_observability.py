"""Alert rules and the dashboard only use metrics the apps really export."""

from __future__ import annotations

import json
import re

import yaml
from prometheus_client import REGISTRY

import libs.common.metrics  # noqa: F401  (registers every metric)
from libs.common.settings import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}


def exported() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        for suffix in SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def referenced(expr: str) -> set[str]:
    return set(re.findall(r"\bsharitories_[a-z_]+\b", expr))


def alert_rules() -> list[dict]:
    rule = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
    assert rule["kind"] == "PrometheusRule"
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def test_alerts_cover_outbox_lag_dead_letters_settlements_and_readiness():
    metrics = set().union(*(referenced(r["expr"]) for r in alert_rules()))
    assert {
        "sharitories_outbox_oldest_pending_seconds",
        "sharitories_consumer_pending",
        "sharitories_events_dead_lettered_total",
        "sharitories_settlements_unfinished",
        "sharitories_ready",
    } <= metrics


def test_every_alert_uses_exported_metrics_and_says_what_is_wrong():
    names = exported()
    for rule in alert_rules():
        assert referenced(rule["expr"]) <= names, (rule["alert"], referenced(rule["expr"]) - names)
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
        assert rule["expr"].count("(") == rule["expr"].count(")")


def test_every_dashboard_panel_queries_exported_metrics():
    dashboard = json.loads((DEPLOY / "grafana" / "sharitories.json").read_text())
    names = exported()
    assert len(dashboard["panels"]) >= 8
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used = referenced(target["expr"])
            assert used and used <= names, (panel["title"], used - names)
