"""The chaos run's accounting without Kafka: how outcomes are classified (lost,
duplicate, conflicting, bad events matched) and how usage is counted against calls."""

from __future__ import annotations

from typing import Any

import orjson

from devtools.chaos import Event, Outcomes, render, summarize


def _letter(rid: str | None, reason: str, payload: str | None = None) -> bytes:
    return orjson.dumps({"request_id": rid, "reason": reason, "payload": payload})


def _summary(traffic: list[Event], outcomes: Outcomes, **over: Any) -> Any:
    return summarize(
        method=[],
        traffic=traffic,
        outcomes=outcomes,
        usage=over.get("usage", {"call_id": True, "calls": 7, "completed_calls": 7}),
        stats={"requests": 7, "outcomes": {"ok": 7}},
        drain={
            "last_fault_cleared_at": 1.0,
            "published_at": 2.0,
            "outcomes_complete": -0.5,
            "pipeline_idle": None,
            "usage_committed": 3.0,
            "traffic_s": 9.0,
        },
        run_s=10.0,
        exit_codes={},
        notes=[],
    )


def test_outcomes_are_classified() -> None:
    ids = [f"chaos-{i:06d}" for i in range(6)]
    traffic = [Event(rid, "valid", b"{}") for rid in ids]
    traffic += [
        Event("chaos-bad-json-0", "not_json", b'{"request_id": "chaos-bad-json-0", '),
        Event("chaos-bad-schema-1", "schema_invalid", b"{}"),
    ]
    outcomes = Outcomes(clock=lambda: 0.0)
    response = orjson.dumps({"request_id": ids[0]})
    outcomes.record("response", response)
    outcomes.record("response", orjson.dumps({"request_id": ids[1]}))
    outcomes.record("response", orjson.dumps({"request_id": ids[1]}))  # a duplicate answer
    outcomes.record("response", orjson.dumps({"request_id": ids[2]}))
    outcomes.record("dead_letter", _letter(ids[2], "attempts_exhausted"))  # conflicting
    outcomes.record("dead_letter", _letter(ids[3], "attempts_exhausted"))
    outcomes.record("dead_letter", _letter(ids[4], "permanent_error"))
    outcomes.record("dead_letter", _letter(ids[4], "attempts_exhausted"))  # conflicting
    # ids[5] gets nothing: lost. The not-JSON event is matched by its payload.
    outcomes.record(
        "dead_letter", _letter(None, "invalid_json", '{"request_id": "chaos-bad-json-0')
    )
    outcomes.record("dead_letter", _letter(None, "invalid_json", "no marker"))
    outcomes.record("response", b"not json")

    result = _summary(traffic, outcomes)
    assert result.answered == 3
    assert result.dead_lettered == {"attempts_exhausted": 1, "permanent_error": 1}
    assert result.lost == [ids[5]]
    assert result.duplicates == 1
    assert [c.split(":")[0] for c in result.conflicting] == [ids[2], ids[4]]
    assert result.bad_dead_lettered == {"not_json -> invalid_json": 1}
    assert result.bad_missing == ["chaos-bad-schema-1"]
    assert (result.unattributed_dead_letters, result.garbled_outcomes) == (1, 1)
    assert result.failures() == [
        "LOST 1",
        "CONFLICTING 2",
        "1 bad events without a dead letter",
    ]
    report = render(result)
    assert "verdict: FAIL (LOST 1; CONFLICTING 2" in report
    assert "0.5 s before it" in report


def test_usage_is_counted_by_call_id_when_the_column_exists() -> None:
    traffic = [Event("chaos-000000", "valid", b"{}")]
    outcomes = Outcomes(clock=lambda: 0.0)
    outcomes.record("response", orjson.dumps({"request_id": "chaos-000000"}))
    usage = {"call_id": True, "calls": 7, "dedup_calls": 9, "completed_calls": 6}
    by_call = _summary(traffic, outcomes, usage={**usage, "interrupted_calls": 1})
    assert (by_call.usage_calls, by_call.failures()) == (7, [])
    # The provider saw 7 calls: 6 completed rows and 1 interrupted one may cover them ...
    assert by_call.usage_matches_calls()
    # ... but not with no interrupted row to account for the seventh.
    short = _summary(traffic, outcomes, usage={**usage, "interrupted_calls": 0})
    assert short.failures() == ["provider calls 7 outside usage calls [6, 6]"]
    by_row = _summary(traffic, outcomes, usage={"call_id": False, "dedup_calls": 9})
    assert by_row.failures() == ["usage 9 != calls 7"]
    assert "no call_id column yet" in render(by_row)
