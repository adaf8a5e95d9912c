"""The ``alerts:`` config section (errors name the field) and the alerts topic's union."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import yaml
from pydantic import ValidationError

from schemas.admission import BudgetAlert
from schemas.alerts import AlertsConfig, RuleAlert, alert_event
from schemas.config import GatewayConfig
from schemas.config_loader import ConfigError, parse_config
from tests.paths import EXAMPLE_CONFIG

RULE = {"name": "errors", "metric": "error_rate", "by": "model", "window_s": 60, "threshold": 0.2}


def _load(alerts: dict[str, Any]) -> GatewayConfig:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["alerts"] = alerts
    return parse_config(yaml.safe_dump(data), "gw.yaml", env={})


def _problems(alerts: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        _load(alerts)
    first, *lines = str(info.value).splitlines()
    assert first == "gw.yaml: invalid config"
    return [line.strip() for line in lines]


def _rule(**over: Any) -> dict[str, Any]:
    return {**RULE, **over}


def test_without_an_alerts_section_there_are_no_rules() -> None:
    assert GatewayConfig.model_fields["alerts"].default == AlertsConfig()
    assert _load({}).alerts.rules == []


def test_a_full_section_loads_with_its_defaults() -> None:
    spend = {"name": "spend", "metric": "cost_usd", "by": "tenant", "window_s": 3600}
    webhook = {"url": "https://hooks.example.com/T0/B0/xyz", "secret_env": "HOOK_TOKEN"}
    alerts = _load(
        {
            "evaluate_interval_s": 2,
            "webhook": webhook,
            "rules": [
                _rule(resolve_below=0.1, for_s=30),
                {**spend, "threshold": 50, "webhook": {"url": "http://127.0.0.1:9/x"}},
            ],
        }
    ).alerts
    errors, cost = alerts.rules
    assert (errors.calls_needed, errors.resolve_level, errors.for_s) == (10, 0.1, 30)
    assert (cost.calls_needed, cost.resolve_level) == (1, 50)
    assert alerts.webhook is not None and alerts.webhook.secret_header == "Authorization"
    assert alerts.webhook.host == "hooks.example.com"
    assert alerts.webhook_for(errors) == alerts.webhook
    assert alerts.webhook_for(cost) == cost.webhook
    assert alerts.recover_lookback_s == 7 * 86400


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (_rule(metric="errors"), "alerts.rules[0].metric: Input should be 'error_rate',"),
        (_rule(by="user"), "alerts.rules[0].by: Input should be 'model', 'provider',"),
        (_rule(window_s=0), "alerts.rules[0].window_s: Input should be greater than 0"),
        (_rule(threshold=-1), "alerts.rules[0].threshold: Input should be greater than 0"),
        (_rule(min_calls=0), "alerts.rules[0].min_calls: Input should be greater than or equal"),
        (_rule(name="a b"), "alerts.rules[0].name: String should match pattern"),
        (_rule(treshold=1), "alerts.rules[0].treshold: Extra inputs are not permitted"),
        (_rule(threshold=1.5), "alerts.rules[0].threshold: error_rate is a share of calls"),
        (
            _rule(threshold=0.2, resolve_below=0.3),
            "alerts.rules[0].resolve_below: 0.3 is above threshold (0.2)",
        ),
        (
            _rule(webhook={"url": "ftp://example.com/x"}),
            "alerts.rules[0].webhook.url: must be an http:// or https:// URL with a host",
        ),
        (
            _rule(webhook={"url": "https://h.example/x", "secret_env": "token value"}),
            "alerts.rules[0].webhook.secret_env: 'token value' is not an environment",
        ),
        (
            _rule(webhook={"url": "https://h.example/x", "secret_header": "X Token"}),
            "alerts.rules[0].webhook.secret_header: 'X Token' is not a valid HTTP header",
        ),
        (
            _rule(webhook={"url": "https://h.example/x", "max_attempts": 0}),
            "alerts.rules[0].webhook.max_attempts: Input should be greater than or equal to 1",
        ),
    ],
)
def test_a_bad_rule_names_its_field(rule: dict[str, Any], expected: str) -> None:
    problems = _problems({"rules": [rule]})
    assert any(p.startswith(expected) for p in problems), problems


def test_a_missing_field_is_named() -> None:
    rule = dict(RULE)
    del rule["threshold"]
    assert _problems({"rules": [rule]}) == ["alerts.rules[0].threshold: Field required"]


def test_two_rules_of_one_name_are_refused() -> None:
    problems = _problems({"rules": [RULE, _rule(metric="fallback_rate")]})
    assert problems == ["alerts: rules[1].name: duplicate rule name 'errors'"]


def test_section_level_fields_are_checked() -> None:
    problems = _problems({"evaluate_interval_s": 0, "webhok": {}})
    assert problems == [
        "alerts.evaluate_interval_s: Input should be greater than 0",
        "alerts.webhok: Extra inputs are not permitted",
    ]


def _rule_alert() -> RuleAlert:
    return RuleAlert(
        state="firing",
        rule="errors",
        metric="error_rate",
        by="model",
        dims={"model": "gpt-4o-mini"},
        value=0.75,
        samples=12,
        threshold=0.5,
        window_s=60,
        reason="above_threshold",
        since=datetime(2026, 3, 1, 12, tzinfo=UTC),
    )


def test_the_union_reads_rule_alerts_and_budget_alerts_old_and_new() -> None:
    rule = _rule_alert()
    assert alert_event.validate_json(rule.to_bytes()) == rule
    assert rule.key == "errors|model=gpt-4o-mini"
    budget = {
        "schema_version": 1,
        "tenant": "acme",
        "budget": "day",
        "period": "day",
        "period_key": "2026-03-01",
        "mode": "hard",
        "threshold": 0.5,
        "spent_usd": "10",
        "limit_usd": "20",
        "created_at": "2026-03-01T12:00:00Z",
    }
    # Written before the kind existed: still a budget alert, and it says so once re-encoded.
    old = alert_event.validate_json(orjson.dumps(budget))
    assert isinstance(old, BudgetAlert) and old.kind == "budget"
    assert orjson.loads(old.to_bytes())["kind"] == "budget"
    assert alert_event.validate_json(orjson.dumps({**budget, "kind": "budget"})) == old
    assert BudgetAlert.from_bytes(orjson.dumps(budget)) == old


def test_the_union_refuses_an_unknown_kind_and_a_mixed_shape() -> None:
    with pytest.raises(ValidationError, match="kind"):
        alert_event.validate_json(b'{"kind": "weather"}')
    wire = orjson.loads(_rule_alert().to_bytes())
    with pytest.raises(ValidationError, match="tenant"):
        alert_event.validate_python({**wire, "kind": "budget"})
