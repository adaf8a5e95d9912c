"""Events of the admission topics, all keyed by tenant (docs/design/state.md).

``llm.admission``       -> :data:`AdmissionEvent`: :class:`AdmitEvent` (a routed request
                           to admit) or :class:`SpendEvent` (what a provider call cost)
``llm.admission-state`` -> :class:`TenantSnapshot` (compacted: a tenant's whole state)
``llm.alerts``          -> :class:`BudgetAlert` (and rule alerts: schemas/alerts.py AlertEvent)
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from schemas.base import SCHEMA_VERSION, Event, RequestId, utcnow
from schemas.budgets import BudgetMode, Period
from schemas.events import DispatchEvent


class AdmitEvent(Event):
    """A routed request for admission: from triage, or back from a rate-limit delay."""

    topic_key_field: ClassVar[str] = "tenant"
    kind: Literal["admit"] = "admit"
    schema_version: Literal[1] = SCHEMA_VERSION
    request_id: str = RequestId
    tenant: str
    dispatch: DispatchEvent
    rate_paid: bool = Field(
        default=False, description="its rate limit was charged when it was delayed"
    )


class SpendEvent(Event):
    """What one provider call cost, from dispatch; ``final`` releases the reservation."""

    topic_key_field: ClassVar[str] = "tenant"
    kind: Literal["spend"] = "spend"
    schema_version: Literal[1] = SCHEMA_VERSION
    request_id: str = RequestId
    tenant: str
    call_id: str = Field(default="", description="empty for a final spend without a call")
    route: str
    model: str
    cost_usd: Decimal = Field(ge=0)
    final: bool = Field(description="the request's terminal outcome follows this event")
    at: datetime = Field(default_factory=utcnow)


AdmissionEvent = Annotated[AdmitEvent | SpendEvent, Field(discriminator="kind")]
admission_event: TypeAdapter[AdmitEvent | SpendEvent] = TypeAdapter(AdmissionEvent)


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReservationRecord(_Part):
    """A request admitted and not settled yet: what it reserved, and the plan it got."""

    amount: Decimal = Field(ge=0)
    budgets: list[str] = Field(description="'budget|period' keys this reservation counts in")
    expires_at: float = Field(description="epoch seconds: dropped then without a final spend")
    route: str
    candidates: list[str]
    downgrade_reason: str | None = None


class BucketRecord(_Part):
    level: float
    at: float = Field(description="epoch seconds of the level")


class TenantSnapshot(Event):
    """A tenant's whole admission state, taken at one moment.

    It covers every event up to ``confirmed_offset`` and may hold the effects of a few
    later ones; replaying those is harmless (docs/design/state.md).
    """

    topic_key_field: ClassVar[str] = "tenant"
    schema_version: Literal[1] = SCHEMA_VERSION
    tenant: str
    partition: int = Field(ge=0)
    confirmed_offset: int = Field(
        ge=-1, description="every event of this tenant up to here is decided and published"
    )
    unconfirmed_calls: list[str] = Field(
        default_factory=list,
        description="call ids of spends past confirmed_offset already counted in this state",
    )
    spent: dict[str, Decimal] = Field(
        default_factory=dict, description="settled USD per 'budget|period'"
    )
    reservations: dict[str, ReservationRecord] = Field(default_factory=dict)
    alerted: dict[str, int] = Field(
        default_factory=dict, description="'budget|period|threshold' -> offset of its spend"
    )
    buckets: dict[str, BucketRecord] = Field(default_factory=dict)
    written_at: datetime = Field(default_factory=utcnow)


class BudgetAlert(Event):
    topic_key_field: ClassVar[str] = "tenant"
    # Records written before rule alerts shared the topic have no kind: they read as budget.
    kind: Literal["budget"] = "budget"
    schema_version: Literal[1] = SCHEMA_VERSION
    tenant: str
    budget: str = Field(description="the budget's id: period plus scope")
    period: Period
    period_key: str = Field(description="the calendar period, e.g. 2026-12-02 or 2026-12")
    mode: BudgetMode
    threshold: float = Field(description="the fraction of the limit crossed")
    spent_usd: Decimal
    limit_usd: Decimal
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def key(self) -> str:
        return f"{self.tenant}:{self.budget}:{self.period_key}:{self.threshold!r}"
