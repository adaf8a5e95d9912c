"""A route in the config file: which requests it matches, its models, how it retries and
picks among them, and the per-route policies (context, escalation, consensus, PII).

Re-exported by :mod:`schemas.config`, whose ``GatewayConfig`` checks that a route's model
names resolve.
"""

from __future__ import annotations

import math
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.cache import CacheConfig
from schemas.context import ContextPolicy
from schemas.events import MAX_DEADLINE_S, TaskType, Tier
from schemas.pii import PiiConfig
from schemas.quality import ConsensusConfig, EscalationConfig


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetryPolicyConfig(_Config):
    deadline_s: float = Field(
        default=300.0,
        gt=0,
        le=MAX_DEADLINE_S,
        description="retry budget in time from first sight; a caller may only shorten it",
    )
    # A hard cap behind the deadline: high enough that a short outage (30 s) does not use it
    # up before the deadline, since full-jitter delays can come out short.
    max_attempts: int = Field(default=30, ge=1, le=100)
    backoff_initial_s: float = Field(default=0.5, ge=0)
    backoff_multiplier: float = Field(default=2.0, ge=1, le=10)
    backoff_max_s: float = Field(default=30.0, ge=0)
    max_retry_after_s: float = Field(
        default=60.0, ge=0, description="a longer Retry-After moves to the next model instead"
    )
    same_model_retries: int = Field(
        default=1, ge=0, description="retries on one model before falling back to the next"
    )


class RouteMatch(_Config):
    task_types: list[TaskType] | None = None
    tiers: list[Tier] | None = None
    min_complexity: float | None = Field(default=None, ge=0, le=1)
    max_complexity: float | None = Field(default=None, ge=0, le=1)
    tenants: list[str] | None = None


RouteStrategy = Literal["priority", "round_robin", "weighted", "cheapest", "fastest"]


class RouteConfig(_Config):
    name: str = Field(min_length=1)
    when: RouteMatch = RouteMatch()
    by_name_only: bool = Field(
        default=False, description="never matched by conditions; only a request's route field"
    )
    primary: str
    fallbacks: list[str] = Field(default_factory=list)
    retry: RetryPolicyConfig = RetryPolicyConfig()
    strategy: RouteStrategy = Field(
        default="priority", description="how the first choice is picked (policy/strategy.py)"
    )
    weights: dict[str, float] | None = Field(
        default=None, description="weighted only: a weight > 0 for each of the route's models"
    )
    weight_key: str | None = Field(
        default=None,
        min_length=1,
        description="weighted: a request metadata key hashed instead of request_id (a user id)",
    )
    explore: float = Field(
        default=0.05, ge=0, le=0.5, description="fastest: share of requests sent to the next best"
    )
    context: ContextPolicy = Field(
        default=ContextPolicy(),
        description="when a request is too long for the first choice's window: move, fit, reject",
    )
    escalation: EscalationConfig | None = None
    consensus: ConsensusConfig | None = Field(
        default=None, description="ask several models at once (non-streamed requests)"
    )
    pii: PiiConfig | None = Field(
        default=None, description="PII redaction for this route, on top of pii.default/tenants"
    )
    cache: CacheConfig | None = Field(
        default=None, description="answer repeated requests from earlier answers (cache.md)"
    )

    @model_validator(mode="after")
    def _weights_fit_strategy(self) -> Self:
        # A setting the strategy ignores is most likely a mistake in the strategy's name.
        # Judged by value, not by presence: a dumped config carries every default.
        only = {"weights": "weighted", "weight_key": "weighted", "explore": "fastest"}
        for field, strategy in only.items():
            unused = getattr(self, field) != type(self).model_fields[field].default
            if unused and self.strategy != strategy:
                raise ValueError(
                    f"{field}: only the {strategy} strategy takes it (strategy is {self.strategy})"
                )
        if self.strategy != "weighted":
            return self
        models = {self.primary, *self.fallbacks}
        if self.weights is None:
            raise ValueError(
                f"weights: required by the weighted strategy, one per model: {_names(models)}"
            )
        missing, unknown = models - self.weights.keys(), self.weights.keys() - models
        if missing or unknown:
            problems = [f"missing {_names(missing)}"] if missing else []
            problems += [f"not in the route {_names(unknown)}"] if unknown else []
            raise ValueError(
                f"weights: keys must be the route's models ({_names(models)}):"
                f" {'; '.join(problems)}"
            )
        bad = {m: w for m, w in self.weights.items() if not (w > 0 and math.isfinite(w))}
        if bad:
            given = ", ".join(f"{m}={w:g}" for m, w in sorted(bad.items()))
            raise ValueError(f"weights: each weight must be a finite number > 0, got {given}")
        return self


def _names(models: set[str] | frozenset[str]) -> str:
    return ", ".join(sorted(models))
