"""The ``admission:`` config section and the admission topics' events."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from schemas.admission import (
    AdmitEvent,
    BucketRecord,
    BudgetAlert,
    ReservationRecord,
    SpendEvent,
    TenantSnapshot,
    admission_event,
)
from schemas.budgets import AdmissionConfig, BudgetConfig
from schemas.config import GatewayConfig
from schemas.config_loader import ConfigError, parse_config
from schemas.events import Classification, DispatchEvent, LLMRequest
from tests.paths import EXAMPLE_CONFIG

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _example_with(admission: dict[str, Any]) -> str:
    """The example config (its models and routes) with this admission section."""
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["admission"] = admission
    return yaml.safe_dump(data)


def _load(admission: dict[str, Any]) -> GatewayConfig:
    return parse_config(_example_with(admission), "gw.yaml", env={})


def _acme(*budgets: dict[str, Any], **policy: Any) -> dict[str, Any]:
    return {"tenants": {"acme": {"budgets": list(budgets), **policy}}}


def _problem(admission: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        _load(admission)
    message = str(info.value)
    assert message.startswith("gw.yaml: invalid config")
    return message


def test_without_an_admission_section_admission_is_off() -> None:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data.pop("admission", None)
    config = parse_config(yaml.safe_dump(data), "example", env={})
    assert not config.admission.enabled
    assert config.admission.policy_for("anyone") is None


def test_a_full_admission_section_loads_with_its_defaults() -> None:
    config = _load(
        {
            "default": {"rate_limit": {"requests_per_minute": 600}},
            "tenants": {
                "acme": {
                    "budgets": [
                        {"period": "month", "limit_usd": "500.10"},
                        {
                            "period": "day",
                            "limit_usd": "20",
                            "mode": "soft",
                            "route": "code",
                            "downgrade_to": {"model": "gpt-4o-mini"},
                        },
                        {
                            "period": "day",
                            "limit_usd": "5",
                            "model": "gpt-4o",
                            "mode": "soft",
                            "downgrade_to": {"route": "budget"},
                            "alert_at": [0.9],
                        },
                    ],
                    "rate_limit": {"tokens_per_minute": 100_000, "on_limit": "reject"},
                }
            },
        }
    )
    admission = config.admission
    assert admission.enabled
    acme = admission.policy_for("acme")
    assert acme is not None
    assert [b.id for b in acme.budgets] == ["month", "day:route=code", "day:model=gpt-4o"]
    assert acme.budgets[0].limit_usd == Decimal("500.10")
    assert (acme.budgets[0].mode, acme.budgets[0].alert_at) == ("hard", [0.5, 0.8, 1.0])
    assert acme.rate_limit is not None
    assert (acme.rate_limit.requests_per_minute, acme.rate_limit.burst_s) == (None, 5.0)
    # a listed tenant gets exactly its own policy, others the default
    other = admission.policy_for("other")
    assert other is not None and other.budgets == []
    assert other.rate_limit is not None and other.rate_limit.on_limit == "delay"
    assert (admission.bytes_per_token, admission.default_max_tokens) == (3.0, 1024)
    assert (admission.image_tokens, admission.reservation_grace_s) == (1500, 600.0)
    assert config.topics.admission == "llm.admission"
    assert config.topics.admission_state == "llm.admission-state"
    assert config.topics.alerts == "llm.alerts"


def test_a_tenant_without_default_is_not_limited() -> None:
    admission = AdmissionConfig.model_validate({"tenants": {"acme": {"budgets": []}}})
    assert admission.enabled
    assert admission.policy_for("acme") is not None
    assert admission.policy_for("other") is None


SOFT = {"period": "day", "limit_usd": "1", "mode": "soft"}
HARD = {"period": "day", "limit_usd": "1"}


@pytest.mark.parametrize(
    ("admission", "expected"),
    [
        (
            _acme(SOFT),
            "admission.tenants.acme.budgets[0].downgrade_to: Field required for a soft budget",
        ),
        (
            _acme(HARD, {**HARD, "period": "month", "downgrade_to": {"model": "gpt-4o-mini"}}),
            "admission.tenants.acme.budgets[1].downgrade_to: only a soft budget downgrades",
        ),
        (
            _acme(rate_limit={"burst_s": 3}),
            "admission.tenants.acme.rate_limit.requests_per_minute: give it, tokens_per_minute,"
            " or both",
        ),
        (
            _acme(rate_limit={"requests_per_minute": 0}),
            "admission.tenants.acme.rate_limit.requests_per_minute: Input should be greater",
        ),
        (
            _acme({**HARD, "alert_at": [0.5, 0]}),
            "admission.tenants.acme.budgets[0].alert_at: 0 is not a fraction in (0, 10]",
        ),
        (_acme({**HARD, "limit_usd": "0"}), "admission.tenants.acme.budgets[0].limit_usd"),
        (_acme({**HARD, "period": "week"}), "admission.tenants.acme.budgets[0].period"),
        (
            _acme({**HARD, "colour": "red"}),
            "admission.tenants.acme.budgets[0].colour: Extra inputs are not permitted",
        ),
        (
            {"default": {"budgets": [HARD]}, "bytes_per_token": 0},
            "admission.bytes_per_token: Input should be greater than 0",
        ),
    ],
)
def test_invalid_admission_settings_name_the_field(
    admission: dict[str, Any], expected: str
) -> None:
    assert expected in _problem(admission)


@pytest.mark.parametrize("target", [{"model": "gpt-4o-mini", "route": "budget"}, {}])
def test_downgrade_to_needs_exactly_one_target(target: dict[str, str]) -> None:
    message = _problem(_acme({**SOFT, "downgrade_to": target}))
    assert (
        "admission.tenants.acme.budgets[0].downgrade_to: give exactly one of model or route"
        in message
    )


@pytest.mark.parametrize("target", [{"model": "gpt-4o-mini", "route": "budget"}, {}])
def test_downgrade_to_with_both_or_neither_is_refused(target: dict[str, str]) -> None:
    message = _problem(_acme({**SOFT, "downgrade_to": target}))
    assert "admission.tenants.acme.budgets[0].downgrade_to" in message
    assert "give exactly one of model or route" in message


def test_two_budgets_with_the_same_period_and_scope_are_refused() -> None:
    message = _problem(
        _acme(HARD, {**HARD, "route": "code"}, {**HARD, "limit_usd": "2", "mode": "hard"})
    )
    assert "admission.tenants.acme" in message
    assert "budgets[2]: a second 'day' budget (same period and scope)" in message
    # the same id in two tenants is fine
    _load({"tenants": {"acme": {"budgets": [HARD]}, "beta": {"budgets": [HARD]}}})


@pytest.mark.parametrize(
    ("admission", "expected"),
    [
        (
            _acme({**HARD, "route": "nope"}),
            "admission.tenants.acme.budgets[0].route: unknown route 'nope' (known: budget, code,",
        ),
        (
            {"default": {"budgets": [HARD, {**HARD, "period": "month", "model": "gpt-5"}]}},
            "admission.default.budgets[1].model: unknown model 'gpt-5' (known: azure-gpt-4o,",
        ),
        (
            _acme({**SOFT, "downgrade_to": {"model": "gpt-5"}}),
            "admission.tenants.acme.budgets[0].downgrade_to.model: unknown model 'gpt-5'",
        ),
        (
            {
                "tenants": {
                    "acme": {"budgets": [HARD]},
                    "beta": {"budgets": [{**SOFT, "downgrade_to": {"route": "cheapest"}}]},
                }
            },
            "admission.tenants.beta.budgets[0].downgrade_to.route: unknown route 'cheapest'",
        ),
    ],
)
def test_unknown_routes_and_models_are_named_with_their_path(
    admission: dict[str, Any], expected: str
) -> None:
    assert expected in _problem(admission)


def test_unknown_references_fail_when_built_from_a_dict_too() -> None:
    example = parse_config(EXAMPLE_CONFIG.read_text(), "example", env={})
    data = example.model_dump(mode="json")
    data["admission"] = _acme({**SOFT, "downgrade_to": {"model": "gpt-5"}})
    with pytest.raises(ValidationError) as info:
        GatewayConfig.model_validate(data)
    assert "admission.tenants.acme.budgets[0].downgrade_to.model: unknown model" in str(info.value)


def test_budget_ids_name_period_and_scope() -> None:
    def budget(**fields: Any) -> BudgetConfig:
        return BudgetConfig.model_validate({**HARD, **fields})

    assert budget().id == "day"
    assert budget(period="month", model="m", route="r").id == "month:route=r:model=m"


# -- events --------------------------------------------------------------------------


def _dispatch() -> DispatchEvent:
    request = LLMRequest(
        request_id="r1",
        tenant="acme",
        messages=[{"role": "user", "content": "hello"}],
        created_at=T0,
    )
    return DispatchEvent(
        request_id="r1",
        request=request,
        classification=Classification(score=0.1, tier="simple", task_type="chat"),
        route="default",
        candidates=["gpt-4o-mini"],
        first_seen_at=T0,
    )


def test_admission_events_decode_by_their_kind() -> None:
    admit = AdmitEvent(request_id="r1", tenant="acme", dispatch=_dispatch())
    spend = SpendEvent(
        request_id="r1",
        tenant="acme",
        call_id="r1:1",
        route="default",
        model="gpt-4o-mini",
        cost_usd=Decimal("0.000012345"),
        final=True,
        at=T0,
    )
    assert admission_event.validate_json(admit.to_bytes()) == admit
    decoded = admission_event.validate_json(spend.to_bytes())
    assert isinstance(decoded, SpendEvent)
    assert decoded.cost_usd == Decimal("0.000012345")
    assert b'"0.000012345"' in spend.to_bytes()
    assert AdmitEvent.topic_key_field == SpendEvent.topic_key_field == "tenant"
    assert not admit.rate_paid


def test_a_spend_cannot_be_negative_and_must_say_whether_it_is_final() -> None:
    fields = {"request_id": "r1", "tenant": "acme", "route": "d", "model": "m"}
    with pytest.raises(ValidationError, match="cost_usd"):
        SpendEvent.model_validate({**fields, "cost_usd": "-0.1", "final": True})
    with pytest.raises(ValidationError, match="final"):
        SpendEvent.model_validate({**fields, "cost_usd": "0.1"})


def test_a_snapshot_decodes_to_itself() -> None:
    held = ReservationRecord(
        amount=Decimal("0.0015"),
        budgets=["day|2026-03-01"],
        expires_at=T0.timestamp() + 600,
        route="budget",
        candidates=["deepseek-chat"],
        downgrade_reason="soft budget day",
    )
    snap = TenantSnapshot(
        tenant="acme",
        partition=2,
        confirmed_offset=41,
        unconfirmed_calls=["r9:1"],
        spent={"day|2026-03-01": Decimal("1.000000001")},
        reservations={"r1": held},
        alerted={"day|2026-03-01|0.5": 40},
        buckets={"requests_per_minute": BucketRecord(level=-1.5, at=T0.timestamp())},
        written_at=T0,
    )
    assert TenantSnapshot.from_bytes(snap.to_bytes()) == snap
    with pytest.raises(ValidationError, match="confirmed_offset"):
        TenantSnapshot(tenant="acme", partition=0, confirmed_offset=-2)


def test_a_budget_alert_key_names_tenant_budget_period_and_threshold() -> None:
    alert = BudgetAlert(
        tenant="acme",
        budget="day:route=code",
        period="day",
        period_key="2026-03-01",
        mode="soft",
        threshold=0.8,
        spent_usd=Decimal("16"),
        limit_usd=Decimal("20"),
    )
    assert alert.key == "acme:day:route=code:2026-03-01:0.8"
    assert alert.model_copy(update={"threshold": 1.0}).key.endswith(":2026-03-01:1.0")
    assert BudgetAlert.from_bytes(alert.to_bytes()) == alert
