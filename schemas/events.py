"""Events on the pipeline's topics.

``llm.requests``  -> :class:`LLMRequest` (published by upstream services)
``llm.dispatch``  -> :class:`DispatchEvent` (a route plan plus the attempt to make)
``llm.retry``     -> :class:`RetryEvent` (the next attempt and when it is due)
``llm.responses`` -> :class:`schemas.responses.LLMResponse` (re-exported here)
``llm.dlq``       -> :class:`DeadLetter`
``llm.usage``     -> :class:`UsageEvent` (one per provider attempt or rejection)
``llm.chunks``    -> :class:`schemas.chunks.ChunkEvent` (a streamed request's deltas)

Every event carries ``schema_version`` and is keyed by ``request_id`` on its topic. The
admission topics (keyed by tenant) are in :mod:`schemas.admission`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from schemas.base import SCHEMA_VERSION, Event, RequestId, utcnow
from schemas.cache import CacheHitKind, CacheTicket
from schemas.chat import (
    ChatMessage,
    FinishReason,
    GenerationParams,
    ResponseFormat,
    ToolChoice,
    ToolSpec,
)
from schemas.consensus import CallPurpose
from schemas.context import ContextRecord
from schemas.responses import (
    EscalationStep,
    LLMResponse,
    QualityCheck,
    QualityVerdict,
    StreamedCall,
    TokenUsage,
)

# Imported names other modules take from here: the chat vocabulary and the response side
# (schemas/responses.py), kept importable from schemas.events for existing callers.
__all__ = [
    "ChatMessage",
    "EscalationStep",
    "FinishReason",
    "GenerationParams",
    "LLMResponse",
    "QualityCheck",
    "QualityVerdict",
    "StreamedCall",
    "TokenUsage",
]

TaskType = Literal["chat", "code", "math", "reasoning", "summarize", "extract", "creative"]
Tier = Literal["simple", "moderate", "complex"]

# Upper bound of a request's retry budget in time, for routes and callers alike: retries are
# held in memory by the retry stage, so an unbounded deadline would pile them up there.
MAX_DEADLINE_S = 3600.0


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LLMRequest(Event):
    """What an upstream service publishes to the request topic."""

    schema_version: Literal[1] = SCHEMA_VERSION
    request_id: str = RequestId
    tenant: str = Field(min_length=1, max_length=64)
    messages: list[ChatMessage] = Field(min_length=1)
    params: GenerationParams = GenerationParams()
    tools: list[ToolSpec] = Field(default_factory=list, max_length=128)
    tool_choice: ToolChoice = "auto"
    response_format: ResponseFormat | None = None
    task_type: TaskType | None = None
    route: str | None = Field(default=None, description="ask for a named route explicitly")
    model: str | None = Field(
        default=None,
        min_length=1,
        description="ask for one model by its config name: no route, no fallbacks",
    )
    metadata: dict[str, str] = Field(default_factory=dict)
    stream: bool = Field(
        default=False,
        description="call the provider in streaming mode and publish its deltas to llm.chunks",
    )
    created_at: datetime = Field(default_factory=utcnow)
    deadline_s: float | None = Field(
        default=None,
        gt=0,
        le=MAX_DEADLINE_S,
        description="give up retrying this long after triage first saw the request",
    )
    deadline_at: AwareDatetime | None = Field(
        default=None, description="give up retrying at this instant (with a UTC offset)"
    )

    @model_validator(mode="after")
    def _one_deadline(self) -> Self:
        if self.deadline_s is not None and self.deadline_at is not None:
            raise ValueError("deadline_s and deadline_at: give one of them, not both")
        return self

    @model_validator(mode="after")
    def _route_or_model(self) -> Self:
        if self.route is not None and self.model is not None:
            raise ValueError("route and model: give one of them, not both")
        return self

    @model_validator(mode="after")
    def _tools_consistent(self) -> Self:
        if self.tool_choice == "required" and not self.tools:
            raise ValueError("tool_choice 'required' needs at least one tool")
        names = [t.name for t in self.tools]
        if len(set(names)) != len(names):
            raise ValueError("tool names must be unique")
        return self


class Classification(_Part):
    score: float = Field(ge=0.0, le=1.0)
    tier: Tier
    task_type: TaskType
    features: dict[str, float] = Field(default_factory=dict)


class AttemptRecord(_Part):
    """One failed provider attempt, kept so a dead letter shows the whole story."""

    attempt: int = Field(ge=1)
    model: str
    provider: str
    error_kind: str
    status_code: int | None = None
    retry_after_s: float | None = None
    started_at: datetime | None = None
    ended_at: datetime


class AdmissionMark(_Part):
    """What admission did to a request it admitted under a tenant policy."""

    reserved_usd: Decimal = Field(ge=0, description="the estimate reserved against budgets")
    downgraded: bool = False
    downgrade_reason: str | None = None
    original_route: str | None = Field(
        default=None, description="the route triage chose, when a downgrade replaced it"
    )


class DispatchEvent(Event):
    """A route plan and the attempt to make now: ``candidates[candidate_index]``."""

    schema_version: Literal[1] = SCHEMA_VERSION
    request_id: str = RequestId
    request: LLMRequest
    classification: Classification
    route: str
    candidates: list[str] = Field(min_length=1)
    candidate_index: int = Field(default=0, ge=0)
    attempt: int = Field(default=1, ge=1, description="1-based count of provider attempts")
    model_attempt: int = Field(default=1, ge=1, description="attempts on the current candidate")
    first_seen_at: datetime = Field(default_factory=utcnow)
    deadline_at: AwareDatetime | None = Field(
        default=None,
        description="no retry after this; set by triage (the earlier of route and caller)",
    )
    history: list[AttemptRecord] = Field(
        default_factory=list, description="every failed attempt so far, oldest first"
    )
    admission: AdmissionMark | None = None
    strategy: str = Field(default="priority", description="the route's strategy at triage")
    arm: str | None = Field(
        default=None, description="the strategy's first choice; None under priority"
    )
    escalations: list[EscalationStep] = Field(
        default_factory=list, description="answers rejected by quality checks, oldest first"
    )
    context: ContextRecord | None = Field(
        default=None, description="the context policy moved or fitted the request (triage)"
    )
    cache: CacheTicket | None = Field(
        default=None, description="a cache leader: its answer or failure goes to the cache"
    )

    @property
    def model(self) -> str:
        return self.candidates[self.candidate_index]


class ErrorInfo(_Part):
    kind: str
    message: str
    status_code: int | None = None
    retry_after_s: float | None = None


class RetryEvent(Event):
    """The next attempt, held by the retry stage until ``due_at``."""

    schema_version: Literal[1] = SCHEMA_VERSION
    request_id: str = RequestId
    dispatch: DispatchEvent
    due_at: datetime
    last_error: ErrorInfo | None = None
    release_to: Literal["dispatch", "admission"] = Field(
        default="dispatch",
        description="dispatch: a retry; admission: a request delayed by its rate limit",
    )


DeadLetterReason = Literal[
    "invalid_json",
    "schema_invalid",
    "unknown_route",
    "unknown_model",
    "no_route",
    "permanent_error",
    "attempts_exhausted",
    "retry_after_too_long",
    "deadline_exceeded",
    "request_too_large",
    "budget_exceeded",
    "rate_limited",
    "no_capable_model",
    "stream_interrupted",
    "internal_error",
    "quality_failed",
    "context_too_long",
    "pii_blocked",
]


DeadLetterStage = Literal["triage", "cache", "admission", "dispatch", "retry", "usage_sink"]


class LimitInfo(_Part):
    """The figures behind a ``budget_exceeded`` or ``rate_limited`` dead letter."""

    kind: Literal["budget", "requests_per_minute", "tokens_per_minute"]
    budget: str | None = Field(default=None, description="the budget's id, e.g. day:route=x")
    period: str | None = Field(default=None, description="e.g. 2026-12-02 or 2026-12")
    limit: Decimal
    spent_usd: Decimal | None = None
    reserved_usd: Decimal | None = None
    estimate: Decimal | None = Field(default=None, description="USD or tokens this request")
    retry_after_s: float | None = None


class EventSource(_Part):
    """The topic, partition and offset of the input event a stage failed on."""

    topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)


class DeadLetter(Event):
    """A terminal failure: says which stage gave up and why."""

    schema_version: Literal[1] = SCHEMA_VERSION
    request_id: str | None = None
    tenant: str | None = None
    stage: DeadLetterStage
    reason: DeadLetterReason
    detail: str
    attempts: int = Field(default=0, ge=0)
    last_error: ErrorInfo | None = None
    history: list[AttemptRecord] = Field(
        default_factory=list, description="every failed provider attempt, oldest first"
    )
    payload: str | None = Field(default=None, description="the raw input when it was not valid")
    payload_masked: bool = Field(
        default=False,
        description="payload and detail had the values of every configured PII policy's kinds"
        " masked (streams/dead_letters.py)",
    )
    source: EventSource | None = Field(
        default=None, description="where the input event sat, for internal errors"
    )
    limit: LimitInfo | None = Field(default=None, description="for budget and rate limits")
    context: ContextRecord | None = Field(
        default=None, description="context_too_long: the figures (estimate, window, max_tokens)"
    )
    created_at: datetime = Field(default_factory=utcnow)


UsageOutcome = Literal["started", "success", "error", "rejected", "skipped", "cache_hit"]


class UsageEvent(Event):
    """One row of the usage table: a provider call, or a rejection before any call.

    Each physical call is published twice: ``started`` before it and its completion
    (``success``/``error``) after, both with the same ``call_id``; a call whose worker
    died midway keeps only its ``started`` row.
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    request_id: str
    attempt: int = Field(ge=0, description="0 for rejections made before any provider call")
    call_id: str = Field(
        default="",
        description="one physical provider call (a replayed event keeps it, a redone call"
        " gets a new one); '{request_id}:rejected' for rejections; empty only on events"
        " published before call ids existed, which the store dedupes by (request_id, attempt)",
    )
    tenant: str
    route: str
    model: str
    provider: str
    upstream_model: str
    outcome: UsageOutcome
    error_kind: str = ""
    status_code: int = 0
    is_fallback: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    latency_ms: float = 0.0
    ttft_ms: float = Field(
        default=0.0, ge=0, description="streamed calls: from the call's start to its first delta"
    )
    complexity: float = 0.0
    tier: str = ""
    task_type: str = ""
    strategy: str = Field(default="", description="the route's strategy (empty: rejections)")
    arm: str = Field(default="", description="the strategy's first choice, if it names one")
    started_at: datetime = Field(default_factory=utcnow)
    escalated: bool = Field(default=False, description="a call made after a rejected answer")
    escalation_reason: str = Field(
        default="", description="the checks that rejected the earlier answers, comma-separated"
    )
    quality_failure: str = Field(
        default="", description="the check this call's answer failed (success rows only)"
    )
    purpose: CallPurpose = Field(
        default="",
        description="consensus: a voter of a fan-out; consensus_lead: the voter that counts"
        " as the request in analytics (one per fan-out); judge: the call that picked",
    )
    pii_counts: dict[str, int] = Field(
        default_factory=dict, description="PII values redacted (or blocked) by kind; no values"
    )
    context_action: str = Field(
        default="", description="moved, fitted or rejected by the context policy; '' nothing"
    )
    cache: CacheHitKind | None = Field(
        default=None, description="cache_hit rows: exact, semantic or coalesced"
    )
    cache_origin: str = Field(
        default="", description="cache_hit rows: the request whose answer was served"
    )
    saved_usd: Decimal = Field(
        default=Decimal(0), ge=0, description="cache_hit rows: what the served answer cost"
    )

    @classmethod
    def rejection(
        cls, request_id: str, tenant: str, route: str, reason: str, classification: Classification
    ) -> UsageEvent:
        """The row of a request refused before any provider call (triage or admission)."""
        return cls(
            request_id=request_id,
            attempt=0,
            call_id=f"{request_id}:rejected",  # replays of one rejection dedupe
            tenant=tenant,
            route=route,
            model="",
            provider="",
            upstream_model="",
            outcome="rejected",
            error_kind=reason,
            complexity=classification.score,
            tier=classification.tier,
            task_type=classification.task_type,
        )
