from decimal import Decimal

import orjson
import pytest
from pydantic import ValidationError

from schemas.events import DeadLetter, LLMRequest, UsageEvent


def _request(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "request_id": "req-1",
        "tenant": "acme",
        "messages": [{"role": "user", "content": "hello"}],
    }
    base.update(over)
    return base


def test_request_round_trips_through_bytes_with_version() -> None:
    req = LLMRequest.model_validate(_request(params={"max_tokens": 64}, task_type="code"))
    data = orjson.loads(req.to_bytes())
    assert data["schema_version"] == 1
    assert data["params"]["max_tokens"] == 64
    assert LLMRequest.from_bytes(req.to_bytes()) == req


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"messages": []}, "messages"),
        ({"request_id": "has space"}, "request_id"),
        ({"surprise": 1}, "surprise"),
        ({"task_type": "poetry"}, "task_type"),
        ({"params": {"temperature": 9}}, "temperature"),
        ({"schema_version": 2}, "schema_version"),
    ],
)
def test_request_rejects_bad_fields_naming_them(override: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        LLMRequest.model_validate(_request(**override))
    assert field in str(info.value)


def test_usage_cost_travels_as_exact_decimal_string() -> None:
    usage = UsageEvent(
        request_id="r",
        attempt=1,
        tenant="t",
        route="default",
        model="m",
        provider="p",
        upstream_model="u",
        outcome="success",
        cost_usd=Decimal("0.000150000"),
    )
    assert orjson.loads(usage.to_bytes())["cost_usd"] == "0.000150000"
    assert UsageEvent.from_bytes(usage.to_bytes()).cost_usd == Decimal("0.00015")


def test_dead_letter_requires_known_reason() -> None:
    with pytest.raises(ValidationError):
        DeadLetter.model_validate({"stage": "triage", "reason": "because", "detail": "x"})
