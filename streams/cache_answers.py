"""The events a cache answer is made of: the response (the stored one, re-addressed) and
its usage row (outcome ``cache_hit``, cost 0, ``saved_usd`` the original's cost), and the
dead letter a waiter gets when its leader failed. Pure functions (docs/design/cache.md).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

from schemas.base import utcnow
from schemas.cache import CacheHitKind
from schemas.events import Classification, DeadLetter, LLMResponse, UsageEvent


def served(
    stored: LLMResponse,
    request_id: str,
    tenant: str,
    kind: CacheHitKind,
    first_seen: float,
) -> LLMResponse:
    """``stored`` given to ``request_id``: no call made, nothing paid."""
    return stored.model_copy(
        update={
            "request_id": request_id,
            "tenant": tenant,
            "cache": kind,
            "cache_origin": stored.request_id,
            "cost_usd": Decimal(0),
            "attempts": 0,
            "latency_ms": _since(first_seen),
            "provider_request_id": None,
            "created_at": utcnow(),
        }
    )


def hit_usage(
    response: LLMResponse,
    saved_usd: Decimal,
    classification: Classification | None,
    strategy: str,
) -> UsageEvent:
    """The usage row of ``response`` (as :func:`served` made it)."""
    return UsageEvent(
        request_id=response.request_id,
        attempt=0,
        call_id=f"{response.request_id}:cache",  # replays of one hit dedupe
        tenant=response.tenant,
        route=response.route,
        model=response.model,
        provider=response.provider,
        upstream_model=response.upstream_model,
        outcome="cache_hit",
        latency_ms=response.latency_ms,
        complexity=classification.score if classification is not None else 0.0,
        tier=classification.tier if classification is not None else "",
        task_type=classification.task_type if classification is not None else "",
        strategy=strategy,
        cache=response.cache,
        cache_origin=response.cache_origin or "",
        saved_usd=saved_usd,
    )


def waiter_letter(leader_letter: DeadLetter, request_id: str, tenant: str) -> DeadLetter:
    """The leader's dead letter, given to a request that waited for its answer."""
    leader = leader_letter.request_id
    return leader_letter.model_copy(
        update={
            "request_id": request_id,
            "tenant": tenant,
            "stage": "cache",
            "detail": f"{leader_letter.detail} (the outcome of identical request {leader},"
            " whose answer this request waited for)",
            "created_at": utcnow(),
        }
    )


def deadline_letter(request_id: str, tenant: str, leader: str) -> DeadLetter:
    return DeadLetter(
        request_id=request_id,
        tenant=tenant,
        stage="cache",
        reason="deadline_exceeded",
        detail=f"its deadline passed while it waited for identical request {leader}",
    )


def waiter_usage(letter: DeadLetter, route: str) -> UsageEvent:
    """The row of a waiter that got a dead letter: counted, no call of its own."""
    return UsageEvent(
        request_id=letter.request_id or "",
        attempt=0,
        call_id=f"{letter.request_id}:cache",
        tenant=letter.tenant or "",
        route=route,
        model="",
        provider="",
        upstream_model="",
        outcome="rejected",
        error_kind=letter.reason,
        cache="coalesced",
    )


def epoch(moment: datetime | None, default: float) -> float:
    return moment.astimezone(UTC).timestamp() if moment is not None else default


def _since(first_seen: float) -> float:
    return round(max(0.0, time.time() - first_seen) * 1000, 3) if first_seen > 0 else 0.0
