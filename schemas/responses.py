"""The response side of the pipeline: :class:`LLMResponse` on ``llm.responses`` and the
records it carries (token usage, the streamed call, quality checks and escalations).

Re-exported by :mod:`schemas.events`, which lists every topic's event.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.base import SCHEMA_VERSION, Event, RequestId, utcnow
from schemas.cache import CacheHitKind
from schemas.chat import FinishReason, ToolCall
from schemas.consensus import ConsensusOutcome
from schemas.context import ContextRecord
from schemas.pii import PiiRedaction


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


QualityCheck = Literal["empty", "refusal", "truncated", "json", "json_schema", "tool_arguments"]


class EscalationStep(_Part):
    """An answer rejected by a quality check, and what the call that gave it cost."""

    model: str
    call_id: str
    check: QualityCheck
    detail: str = Field(description="what failed; quotes at most 80 characters of the answer")
    cost_usd: Decimal = Field(ge=0)


class QualityVerdict(_Part):
    """What a route's quality checks said about the answer a response carries."""

    outcome: Literal["passed", "failed", "skipped"]
    check: QualityCheck | None = Field(default=None, description="failed: the check")
    detail: str = Field(default="", description="failed: what; skipped: why")


class TokenUsage(_Part):
    input_tokens: int = Field(ge=0, description="all prompt tokens, cached ones included")
    output_tokens: int = Field(ge=0)
    cached_input_tokens: int = Field(default=0, ge=0)


class StreamedCall(_Part):
    """The call whose chunks (on ``llm.chunks``) spell out a streamed response."""

    call_id: str
    chunks: int = Field(ge=0, description="how many: seq 0 to chunks - 1")
    ttft_ms: float = Field(ge=0, description="from the call's start to its first delta")


class LLMResponse(Event):
    schema_version: Literal[1] = SCHEMA_VERSION
    request_id: str = RequestId
    tenant: str
    route: str
    model: str
    provider: str
    upstream_model: str
    content: str
    tool_calls: list[ToolCall] = Field(default_factory=list)
    citations: list[str] = Field(default_factory=list)
    finish_reason: FinishReason
    usage: TokenUsage
    cost_usd: Decimal
    attempts: int = Field(ge=0, description="provider attempts made for it; 0: from the cache")
    latency_ms: float = Field(ge=0, description="from first sight at triage to the answer")
    provider_request_id: str | None = None
    downgraded: bool = Field(default=False, description="a soft budget sent it to a cheaper model")
    downgrade_reason: str | None = None
    strategy: str = Field(default="priority", description="the route's strategy at triage")
    arm: str | None = Field(
        default=None, description="the strategy's first choice; None under priority"
    )
    streamed: StreamedCall | None = Field(
        default=None, description="a streamed answer: which call's chunks make it up"
    )
    created_at: datetime = Field(default_factory=utcnow)
    escalated: bool = Field(default=False, description="a quality check rejected an answer")
    escalations: list[EscalationStep] = Field(
        default_factory=list, description="the rejected answers, oldest first"
    )
    quality: QualityVerdict | None = Field(
        default=None, description="the route's quality checks on this answer; None: no checks"
    )
    consensus: ConsensusOutcome | None = Field(
        default=None, description="the route asked several models: who answered, who agreed"
    )
    context: ContextRecord | None = Field(
        default=None, description="the request was moved or fitted to a context window"
    )
    redaction: PiiRedaction | None = Field(
        default=None, description="a PII policy applied: values found per kind, what they became"
    )
    cache: CacheHitKind | None = Field(
        default=None,
        description="served from the route's cache: exact, semantic, or coalesced (the answer"
        " of an identical request in flight); cost_usd is then 0",
    )
    cache_origin: str | None = Field(
        default=None, description="a cached answer: the request_id it was first given to"
    )
