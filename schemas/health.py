"""Events of the health topic (``llm.health``, compacted, keyed by deployment).

Gateway workers share circuit-breaker state through it (docs/design/routing.md): a worker
publishes a :class:`HealthRecord` when its breaker of a deployment changes state, and
every few seconds while it calls that deployment (error rate and latency). The last
record per deployment is what a worker starting up, and ``routeyard health``, read.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from schemas.base import SCHEMA_VERSION, Event, utcnow

BreakerState = Literal["closed", "open", "half_open"]


def deployment_key(provider: str, upstream: str) -> str:
    """The key of a deployment: calls to one provider's model share a breaker."""
    return f"{provider}/{upstream}"


class HealthRecord(Event):
    """One worker's view of a deployment: its breaker state and recent calls."""

    topic_key_field: ClassVar[str] = "deployment"
    schema_version: Literal[1] = SCHEMA_VERSION
    deployment: str = Field(min_length=1, description="provider/upstream_model")
    state: BreakerState
    since: float = Field(
        description="epoch seconds the state began; the later of two records' states wins"
    )
    cooldown_s: float = Field(gt=0, description="how long an open state lasts")
    error_rate: float = Field(ge=0, le=1, description="retryable failures / calls in window")
    calls_in_window: int = Field(ge=0, description="calls of the writing worker in the window")
    latency_ewma_ms: float | None = Field(
        default=None, ge=0, description="the writing worker's latency EWMA of successes"
    )
    written_by: str = Field(min_length=1, description="the worker that wrote the record")
    at: datetime = Field(default_factory=utcnow)
