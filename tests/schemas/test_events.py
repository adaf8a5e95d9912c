from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest
from pydantic import ValidationError

from schemas.events import (
    AttemptRecord,
    Classification,
    DeadLetter,
    DispatchEvent,
    LLMRequest,
    UsageEvent,
)


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
        call_id="c",
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


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"deadline_s": 0}, "deadline_s"),
        ({"deadline_s": -5}, "deadline_s"),
        ({"deadline_s": 3601}, "deadline_s"),
        ({"deadline_at": "2025-03-01T12:00:00"}, "deadline_at"),  # no offset: ambiguous
        ({"deadline_s": 30, "deadline_at": "2025-03-01T12:00:00Z"}, "not both"),
    ],
)
def test_request_deadline_is_bounded_and_unambiguous(
    override: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        LLMRequest.model_validate(_request(**override))
    assert field in str(info.value)


def test_request_deadline_round_trips() -> None:
    req = LLMRequest.model_validate(_request(deadline_at="2025-03-01T12:00:00+02:00"))
    assert req.deadline_at == datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    assert LLMRequest.from_bytes(req.to_bytes()) == req
    assert LLMRequest.model_validate(_request(deadline_s=90)).deadline_s == 90.0


def _history() -> list[AttemptRecord]:
    t = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    return [
        AttemptRecord(
            attempt=1,
            model="gpt-4o-mini",
            provider="openai",
            error_kind="connection_error",
            started_at=t,
            ended_at=t + timedelta(milliseconds=40),
        ),
        AttemptRecord(
            attempt=2,
            model="claude-haiku",
            provider="anthropic",
            error_kind="rate_limited",
            status_code=429,
            retry_after_s=2.5,
            ended_at=t + timedelta(seconds=1),
        ),
    ]


def test_dispatch_event_carries_deadline_and_history_through_bytes() -> None:
    req = LLMRequest.model_validate(_request())
    ev = DispatchEvent(
        request_id="req-1",
        request=req,
        classification=Classification(score=0.1, tier="simple", task_type="chat"),
        route="default",
        candidates=["gpt-4o-mini", "claude-haiku"],
        deadline_at=datetime(2025, 3, 1, 12, 5, tzinfo=UTC),
        history=_history(),
    )
    back = DispatchEvent.from_bytes(ev.to_bytes())
    assert back == ev and back.history[1].retry_after_s == 2.5
    # events written before these fields existed still read
    old = orjson.loads(ev.to_bytes())
    del old["deadline_at"], old["history"]
    legacy = DispatchEvent.model_validate(old)
    assert (legacy.deadline_at, legacy.history) == (None, [])


def test_dead_letter_carries_the_attempt_history() -> None:
    letter = DeadLetter(
        request_id="req-1",
        stage="dispatch",
        reason="deadline_exceeded",
        detail="deadline_exceeded after 2 attempts: ...",
        attempts=2,
        history=_history(),
    )
    data = orjson.loads(letter.to_bytes())
    assert [h["error_kind"] for h in data["history"]] == ["connection_error", "rate_limited"]
    assert DeadLetter.from_bytes(letter.to_bytes()) == letter
