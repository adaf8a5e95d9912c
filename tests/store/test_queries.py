"""The analysts' queries: parameters, and the rollup against raw rows on a varied store."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from schemas.consensus import CallPurpose
from schemas.events import Classification, UsageEvent, UsageOutcome
from store import UsageStore
from store.backends import EmbeddedBackend
from store.queries import QueryError, Step, TimeRange, parse_instant, summary, timeseries

NOW = datetime(2026, 12, 3, 12, 30, 45, tzinfo=UTC)


def test_instants_and_spans() -> None:
    assert parse_instant("since", "2h", NOW) == NOW - timedelta(hours=2)
    assert parse_instant("since", "7d", NOW) == NOW - timedelta(days=7)
    assert parse_instant("until", "2026-12-03T10:00:00Z", NOW) == datetime(
        2026, 12, 3, 10, tzinfo=UTC
    )
    assert parse_instant("until", "2026-12-03T11:00:00+01:00", NOW) == datetime(
        2026, 12, 3, 10, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [("yesterday", "neither an ISO 8601 time"), ("2026-12-03T10:00:00", "no UTC offset")],
)
def test_a_bad_instant_names_its_parameter(text: str, message: str) -> None:
    with pytest.raises(QueryError, match=f"since: .*{message}") as caught:
        parse_instant("since", text, NOW)
    assert caught.value.param == "since"


def test_a_range_is_whole_minutes_and_must_not_be_empty() -> None:
    window = TimeRange.of(NOW - timedelta(minutes=5), NOW)
    assert window.as_json() == {"since": "2026-12-03T12:25:00Z", "until": "2026-12-03T12:30:00Z"}
    with pytest.raises(QueryError, match=r"until: .* is not after since") as caught:
        TimeRange.of(NOW, NOW + timedelta(seconds=10))  # the same minute once floored
    assert caught.value.param == "until"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[UsageStore]:
    s = UsageStore(EmbeddedBackend(tmp_path / "chdb"), "routeyard")
    s.ensure_schema()
    yield s
    s.backend.close()


def _event(i: int, rng: random.Random, start: datetime) -> UsageEvent:
    weighted: list[UsageOutcome] = ["success"] * 12
    outcome = rng.choice([*weighted, "error", "error", "rejected", "skipped", "started"])
    model = "" if outcome == "rejected" else rng.choice(["small", "big", "long"])
    return UsageEvent(
        request_id=f"r{i}",
        attempt=0 if outcome == "rejected" else rng.choice([1, 1, 1, 2, 3]),
        call_id=f"c{i}",
        tenant=rng.choice(["acme", "globex", "initech"]),
        route=rng.choice(["default", "code"]),
        model=model,
        provider="emu",
        upstream_model=model,
        outcome=outcome,
        error_kind={"error": "timeout", "rejected": "budget_exceeded"}.get(outcome, ""),
        is_fallback=outcome != "rejected" and rng.random() < 0.2,
        input_tokens=rng.randint(5, 500) if outcome == "success" else 0,
        output_tokens=rng.randint(1, 300) if outcome == "success" else 0,
        cost_usd=Decimal(rng.randint(1, 99_999)) / Decimal(10**9),
        latency_ms=rng.lognormvariate(5, 0.6),
        tier=rng.choice(["simple", "medium", "complex"]),
        task_type=rng.choice(["chat", "code"]),
        started_at=start + timedelta(seconds=rng.uniform(0, 3 * 86400)),
    )


@pytest.mark.parametrize(
    "by", [[], ["model"], ["tenant", "day"], ["route", "tier", "task_type"], ["provider", "hour"]]
)
def test_the_rollup_answers_as_the_raw_rows_do(store: UsageStore, by: list[str]) -> None:
    rng = random.Random(7)
    start = datetime(2026, 11, 28, tzinfo=UTC)
    events = [_event(i, rng, start) for i in range(5000)]
    for i in range(0, len(events), 700):  # batches, as the sink writes them
        store.insert(events[i : i + 700])
    # Whole days and a range that cuts through them, minute-aligned both.
    for window in (
        TimeRange.of(start, start + timedelta(days=4)),
        TimeRange.of(start + timedelta(hours=7, minutes=13), start + timedelta(hours=50)),
    ):
        rollup = summary(store, window, by, "rollup")
        assert rollup == summary(store, window, by, "raw")
        assert rollup, "the range holds rows"
    whole = summary(store, TimeRange.of(start, start + timedelta(days=4)), [], "rollup")[0]
    outcomes = [e.outcome for e in events]
    assert whole["successes"] == outcomes.count("success")
    assert whole["interrupted"] == outcomes.count("started")
    assert Decimal(whole["cost_usd"]) == sum(e.cost_usd for e in events)


def test_time_series_agree_across_sources(store: UsageStore) -> None:
    rng = random.Random(11)
    start = datetime(2026, 11, 30, tzinfo=UTC)
    store.insert([_event(i, rng, start) for i in range(3000)])
    window = TimeRange.of(start, start + timedelta(days=3))
    for step, by in (("minute", "model"), ("hour", "tenant"), ("day", None)):
        series = timeseries(store, window, step, by, "rollup")  # type: ignore[arg-type]
        assert series == timeseries(store, window, step, by, "raw")  # type: ignore[arg-type]
    daily = timeseries(store, window, "day", None, "rollup")
    assert [row["bucket"] for row in daily] == [
        "2026-11-30T00:00:00Z",
        "2026-12-01T00:00:00Z",
        "2026-12-02T00:00:00Z",
    ]


def test_unknown_dimensions_and_steps_name_the_parameter(store: UsageStore) -> None:
    window = TimeRange.of(NOW - timedelta(hours=1), NOW)
    with pytest.raises(QueryError, match="by: unknown colour") as caught:
        summary(store, window, ["colour"])
    assert caught.value.param == "by"
    with pytest.raises(QueryError, match="step: unknown 'week'"):
        timeseries(store, window, "week", None)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="by: day is a time step"):
        timeseries(store, window, "hour", "day")


def _call(
    request: str,
    model: str,
    purpose: CallPurpose,
    outcome: UsageOutcome,
    *,
    attempt: int = 1,
    error_kind: str = "",
    at: datetime = NOW,
) -> UsageEvent:
    billed = outcome == "success"
    return UsageEvent(
        request_id=request,
        attempt=attempt,
        call_id=f"{request}:{attempt}:{model}" + (":skipped" if outcome == "skipped" else ""),
        tenant="acme",
        route="vote",
        model=model,
        provider="emu",
        upstream_model=model,
        outcome=outcome,
        error_kind=error_kind,
        input_tokens=20 if billed else 0,
        output_tokens=3 if billed else 0,
        cost_usd=Decimal("0.000010") if billed else Decimal(0),
        latency_ms=50.0,
        started_at=at,
        purpose=purpose,
    )


def _with_started(rows: list[UsageEvent]) -> list[UsageEvent]:
    """Each call's started row before its completion, as dispatch publishes them."""
    calls = [r for r in rows if r.outcome in ("success", "error")]
    started = [r.model_copy(update={"outcome": "started", "cost_usd": Decimal(0)}) for r in calls]
    return started + rows


def test_a_consensus_request_counts_once_in_both_sources(store: UsageStore) -> None:
    """Voters and the judge are calls of attempt 1 too; only the lead (the first voter the
    gate let through) or an ordinary call makes the request, whatever became of it."""
    at = NOW - timedelta(minutes=30)
    rows = _with_started(
        [
            _call("plain", "a", "", "success", at=at),
            # majority: lead a, voters b and c (c failed)
            _call("vote", "a", "consensus_lead", "success", at=at),
            _call("vote", "b", "consensus", "success", at=at),
            _call("vote", "c", "consensus", "error", error_kind="unavailable", at=at),
            # judge: three voters and the judge's call
            _call("judged", "a", "consensus_lead", "success", at=at),
            _call("judged", "b", "consensus", "success", at=at),
            _call("judged", "c", "consensus", "success", at=at),
            _call("judged", "judge", "judge", "success", at=at),
            # a's breaker was open: skipped, so b, the first voter called, leads
            _call("refused", "a", "consensus", "skipped", error_kind="breaker_open", at=at),
            _call("refused", "b", "consensus_lead", "success", at=at),
            _call("refused", "c", "consensus", "success", at=at),
            # the lead's call failed: its error row still makes the request
            _call("lead-failed", "a", "consensus_lead", "error", error_kind="timeout", at=at),
            _call("lead-failed", "b", "consensus", "success", at=at),
            # first_valid cancelled the lead once b's answer passed
            _call("cancelled", "a", "consensus_lead", "error", error_kind="cancelled", at=at),
            _call("cancelled", "b", "consensus", "success", at=at),
            # every voter failed in attempt 1; attempt 2 is a new fan-out with its own lead
            _call("retried", "a", "consensus_lead", "error", error_kind="timeout", at=at),
            _call("retried", "b", "consensus", "error", error_kind="timeout", at=at),
            _call("retried", "a", "consensus_lead", "success", attempt=2, at=at),
            _call("retried", "b", "consensus", "success", attempt=2, at=at),
        ]
    )
    rejected = UsageEvent.rejection(
        "refused-early",
        "acme",
        "vote",
        "budget_exceeded",
        Classification(score=0.1, tier="simple", task_type="chat"),
    ).model_copy(update={"started_at": at})
    store.insert([*rows, rejected])
    window = TimeRange.of(NOW - timedelta(hours=1), NOW)

    for by in ([], ["model"], ["route", "day"]):
        assert summary(store, window, by, "rollup") == summary(store, window, by, "raw")
    steps: list[tuple[Step, str | None]] = [("minute", "model"), ("hour", None)]
    for step, key in steps:
        rollup = timeseries(store, window, step, key, "rollup")
        assert rollup == timeseries(store, window, step, key, "raw")

    [total] = summary(store, window, [], "rollup")
    assert total["requests"] == len({r.request_id for r in rows}) + 1 == 8
    completed = [r for r in rows if r.outcome in ("success", "error")]
    assert total["calls"] == len(completed) == 18
    assert (total["skipped"], total["rejected"]) == (1, 1)
    assert Decimal(total["cost_usd"]) == sum(r.cost_usd for r in rows)
    by_model = {r["model"]: r for r in summary(store, window, ["model"], "rollup")}
    # Each request counts for the model of its lead (or its one call); calls for every model.
    assert {m: r["requests"] for m, r in by_model.items()} == {
        "": 1,
        "a": 6,
        "b": 1,
        "c": 0,
        "judge": 0,
    }
    assert {m: r["calls"] for m, r in by_model.items()} == {
        "": 0,
        "a": 7,
        "b": 7,
        "c": 3,
        "judge": 1,
    }
