"""Alert rules (the ``alerts:`` config section) and the events of the alerts topic.

``llm.alerts`` -> :data:`AlertEvent`: a :class:`schemas.admission.BudgetAlert` (kind
``budget``; older records carry no kind) or a :class:`RuleAlert` (kind ``rule``) from
the alert monitor (docs/design/alerts.md).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    field_validator,
    model_validator,
)

from schemas.admission import BudgetAlert
from schemas.base import SCHEMA_VERSION, Event, utcnow

AlertMetric = Literal["error_rate", "p95_latency_ms", "cost_usd", "fallback_rate"]
AlertDim = Literal["model", "provider", "tenant", "route"]
AlertState = Literal["firing", "resolved"]
AlertReason = Literal["above_threshold", "below_threshold", "no_calls", "rule_changed"]

RATE_METRICS: frozenset[str] = frozenset({"error_rate", "fallback_rate"})
# Calls a window needs before its value counts, when the rule does not say: a rate or a
# p95 over a couple of calls is noise; spend is spend from the first call.
DEFAULT_MIN_CALLS = 10
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookConfig(_Config):
    """Where alerts are POSTed as JSON; the secret header's value comes from the environment."""

    url: str = Field(min_length=1)
    secret_header: str = Field(default="Authorization", description="header carrying the secret")
    secret_env: str | None = Field(
        default=None,
        description="environment variable holding the secret header's value (never the value)",
    )
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="per attempt")
    max_attempts: int = Field(default=3, ge=1, le=10)
    backoff_initial_s: float = Field(default=0.5, ge=0, le=60)
    backoff_max_s: float = Field(default=10.0, ge=0, le=300)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return url

    @field_validator("secret_header")
    @classmethod
    def _header_name(cls, name: str) -> str:
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid HTTP header name")
        return name

    @field_validator("secret_env")
    @classmethod
    def _env_name(cls, name: str | None) -> str | None:
        if name is not None and not _ENV_NAME.match(name):
            raise ValueError(f"{name!r} is not an environment variable name")
        return name

    @property
    def host(self) -> str:
        """What logs may say about the URL: its path or query can hold a token."""
        return urlsplit(self.url).hostname or "?"


class AlertRule(_Config):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    metric: AlertMetric
    by: AlertDim
    window_s: float = Field(gt=0, le=86400, description="the metric is over the last window_s")
    threshold: float = Field(gt=0, description="fires when the value reaches it")
    min_calls: int | None = Field(
        default=None,
        ge=1,
        description=f"calls in the window before it can fire; {DEFAULT_MIN_CALLS}, or 1 for"
        " cost_usd",
    )
    for_s: float = Field(default=0.0, ge=0, description="the breach holds this long first")
    resolve_below: float | None = Field(
        default=None, ge=0, description="resolves under this value (default: the threshold)"
    )
    resolve_for_s: float = Field(default=0.0, ge=0, description="healthy this long first")
    webhook: WebhookConfig | None = Field(
        default=None, description="this rule's webhook, in place of alerts.webhook"
    )

    @model_validator(mode="after")
    def _levels_ordered(self) -> Self:
        if self.metric in RATE_METRICS and self.threshold > 1:
            raise ValueError(
                f"threshold: {self.metric} is a share of calls, at most 1 (got {self.threshold:g})"
            )
        if self.resolve_below is not None and self.resolve_below > self.threshold:
            raise ValueError(
                f"resolve_below: {self.resolve_below:g} is above threshold ({self.threshold:g})"
            )
        return self

    @property
    def calls_needed(self) -> int:
        if self.min_calls is not None:
            return self.min_calls
        return 1 if self.metric == "cost_usd" else DEFAULT_MIN_CALLS

    @property
    def resolve_level(self) -> float:
        return self.threshold if self.resolve_below is None else self.resolve_below


class AlertsConfig(_Config):
    rules: list[AlertRule] = Field(default_factory=list)
    evaluate_interval_s: float = Field(default=5.0, gt=0, le=300)
    webhook: WebhookConfig | None = Field(
        default=None, description="every rule's webhook unless the rule names its own"
    )
    recover_lookback_s: float = Field(
        default=7 * 86400,
        gt=0,
        description="how far back a restarted monitor reads llm.alerts for firing alerts",
    )

    @model_validator(mode="after")
    def _names_unique(self) -> Self:
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.name in seen:
                # The name keys the rule's events: two rules would share their alerts.
                raise ValueError(f"rules[{i}].name: duplicate rule name {rule.name!r}")
            seen.add(rule.name)
        return self

    def webhook_for(self, rule: AlertRule) -> WebhookConfig | None:
        return rule.webhook or self.webhook


class RuleAlert(Event):
    """A rule's key started or stopped breaching (docs/design/alerts.md)."""

    topic_key_field: ClassVar[str] = "key"
    kind: Literal["rule"] = "rule"
    schema_version: Literal[1] = SCHEMA_VERSION
    state: AlertState
    rule: str
    metric: AlertMetric
    by: AlertDim
    dims: dict[str, str] = Field(description="{by: value}, e.g. {'model': 'gpt-4o-mini'}")
    value: float | None = Field(description="over the window; null when it held no calls")
    samples: int = Field(ge=0, description="calls the value is over")
    threshold: float
    window_s: float
    reason: AlertReason
    since: datetime = Field(description="when this alert fired; its resolution carries it too")
    at: datetime = Field(default_factory=utcnow)

    @property
    def key(self) -> str:
        return alert_key(self.rule, self.dims)


def alert_key(rule: str, dims: dict[str, str]) -> str:
    """The Kafka key of a rule's alerts for one key: one partition, in order."""
    return rule + "|" + ",".join(f"{dim}={value}" for dim, value in sorted(dims.items()))


def _alert_kind(value: Any) -> str:
    # Budget alerts were written before the union existed, without a kind.
    if isinstance(value, dict):
        return str(value.get("kind", "budget"))
    return str(getattr(value, "kind", "budget"))


AlertEvent = Annotated[
    Annotated[BudgetAlert, Tag("budget")] | Annotated[RuleAlert, Tag("rule")],
    Discriminator(_alert_kind),
]
alert_event: TypeAdapter[BudgetAlert | RuleAlert] = TypeAdapter(AlertEvent)
