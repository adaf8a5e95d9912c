"""Each deployment's circuit breaker, error rate and latency, from the health topic.

The topic keeps the last record per deployment (docs/design/routing.md); its figures are
those of the worker that wrote it. :func:`health_rows` is pure, so what the command shows
is tested without Kafka.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import orjson
from pydantic import BaseModel, ConfigDict

from policy.breaker import Transition, state_at
from schemas.config import GatewayConfig
from schemas.health import BreakerState, HealthRecord, deployment_key


class HealthRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    deployment: str
    models: list[str]
    state: BreakerState
    since: datetime | None
    cooldown_s: float | None
    error_rate: float | None
    calls_in_window: int | None
    latency_ewma_ms: float | None
    written_by: str | None


def health_rows(
    config: GatewayConfig, records: Iterable[HealthRecord], now: datetime
) -> list[HealthRow]:
    """One row per deployment the config names or the topic has a record of.

    A deployment without a record has never changed state or been reported: closed. An
    open breaker whose cool-down has passed is shown half-open, as every worker takes it.
    """
    models: dict[str, list[str]] = {}
    for name, model in config.models.items():
        models.setdefault(deployment_key(model.provider, model.upstream), []).append(name)
    found = {r.deployment: r for r in records}
    rows = []
    for deployment in sorted(set(models) | set(found)):
        names = sorted(models.get(deployment, []))
        record = found.get(deployment)
        if record is None:
            rows.append(
                HealthRow(
                    deployment=deployment,
                    models=names,
                    state="closed",
                    since=None,
                    cooldown_s=None,
                    error_rate=None,
                    calls_in_window=None,
                    latency_ewma_ms=None,
                    written_by=None,
                )
            )
            continue
        current = state_at(
            Transition(record.state, record.since, record.cooldown_s), now.timestamp()
        )
        rows.append(
            HealthRow(
                deployment=deployment,
                models=names,
                state=current.state,
                since=datetime.fromtimestamp(current.since, UTC),
                cooldown_s=current.cooldown_s,
                error_rate=record.error_rate,
                calls_in_window=record.calls_in_window,
                latency_ewma_ms=record.latency_ewma_ms,
                written_by=record.written_by,
            )
        )
    return rows


_COLUMNS = [
    ("deployment", "deployment", "<"),
    ("models", "models", "<"),
    ("state", "state", "<"),
    ("error_rate", "error%", ">"),
    ("calls_in_window", "calls", ">"),
    ("latency_ewma_ms", "latency ms", ">"),
    ("cooldown_s", "cooldown s", ">"),
    ("since", "since (UTC)", "<"),
    ("written_by", "by", "<"),
]


def _cell(key: str, row: HealthRow) -> str:
    value = getattr(row, key)
    if value is None:
        return "-"
    if key == "models":
        return ",".join(value) or "-"
    if key == "error_rate":
        return f"{value * 100:.1f}"
    if key == "latency_ewma_ms":
        return f"{value:.0f}"
    if key == "cooldown_s":
        return f"{value:g}" if row.state != "closed" else "-"
    if key == "since":
        return f"{value:%Y-%m-%d %H:%M:%S}"
    return str(value)


def format_health(rows: list[HealthRow], now: datetime) -> str:
    """A fixed-width table, like ``routeyard budgets``'."""
    if not rows:
        return "no deployments: the config names no models and the topic has no records"
    table = [[title for _, title, _ in _COLUMNS]]
    table += [[_cell(key, row) for key, _, _ in _COLUMNS] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(_COLUMNS))]
    lines = []
    for r in table:
        cells = [f"{c:{align}{w}}" for c, (_, _, align), w in zip(r, _COLUMNS, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    shut = sum(row.state != "closed" for row in rows)
    summary = (
        f"as of {now.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC; error%, calls (in the breaker"
        " window) and latency (EWMA of successes) are the figures of the worker in `by`"
    )
    if shut:
        summary += f"; {shut} not closed"
    lines.append(summary)
    return "\n".join(lines)


def health_json(rows: list[HealthRow]) -> str:
    return orjson.dumps([row.model_dump(mode="json") for row in rows]).decode()
