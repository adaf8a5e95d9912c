"""The config file: providers, models, routes, topics, and stage settings.

Loaded from YAML by :func:`schemas.config_loader.load_config`; every model forbids
unknown fields so a typo stops start-up with the field's path in the message.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.alerts import AlertsConfig
from schemas.budgets import AdmissionConfig, BudgetConfig
from schemas.pii import PiiConfig, PiiPolicies, check_patterns_agree
from schemas.provider_limits import ProviderLimitConfig
from schemas.providers import ProviderConfig
from schemas.router import RouterConfig
from schemas.routes import RetryPolicyConfig, RouteConfig, RouteMatch, RouteStrategy
from schemas.serve import ServeConfig

# The route models live in schemas/routes.py; kept importable from here for existing callers.
__all__ = ["RetryPolicyConfig", "RouteConfig", "RouteMatch", "RouteStrategy"]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Config):
    provider: str
    upstream: str = Field(min_length=1, description="the model name the provider knows")
    input_per_mtok: Decimal = Field(ge=0, description="USD per 1M input tokens")
    output_per_mtok: Decimal = Field(ge=0, description="USD per 1M output tokens")
    cached_input_per_mtok: Decimal | None = Field(
        default=None, ge=0, description="USD per 1M cached input tokens; input price if unset"
    )
    context_window: int = Field(gt=0)
    tags: list[str] = Field(default_factory=list)


class TopicsConfig(_Config):
    requests: str = "llm.requests"
    dispatch: str = "llm.dispatch"
    responses: str = "llm.responses"
    retry: str = "llm.retry"
    dlq: str = "llm.dlq"
    usage: str = "llm.usage"
    admission: str = "llm.admission"
    admission_state: str = "llm.admission-state"
    alerts: str = "llm.alerts"
    health: str = "llm.health"
    chunks: str = "llm.chunks"
    cache: str = "llm.cache"
    cache_state: str = "llm.cache-state"
    partitions: int = Field(default=4, ge=1)


class BreakerConfig(_Config):
    """Circuit breakers per deployment (provider + upstream model): docs/design/routing.md."""

    window_s: float = Field(
        default=30.0, gt=0, le=3600, description="sliding window of calls the failure rate is over"
    )
    min_calls: int = Field(
        default=10, ge=1, description="calls in the window before the failure rate can open it"
    )
    failure_rate: float = Field(
        default=0.5, gt=0, le=1, description="share of retryable failures that opens it"
    )
    consecutive_failures: int = Field(
        default=5, ge=1, description="retryable failures in a row that open it"
    )
    cooldown_s: float = Field(
        default=5.0, gt=0, description="first open period; doubles on each re-opening"
    )
    cooldown_max_s: float = Field(default=120.0, gt=0, description="cap of the doubling")
    probe_calls: int = Field(
        default=3, ge=1, le=1000, description="calls let through at once while half-open"
    )

    @model_validator(mode="after")
    def _cooldowns_ordered(self) -> BreakerConfig:
        if self.cooldown_max_s < self.cooldown_s:
            raise ValueError(
                f"cooldown_max_s: {self.cooldown_max_s:g} is below cooldown_s ({self.cooldown_s:g})"
            )
        return self


class DispatchConfig(_Config):
    max_in_flight: int = Field(
        default=512, ge=1, le=20_000, description="provider calls in flight per worker"
    )
    inline_first_attempts: bool = Field(
        default=True,
        description=(
            "triage makes a request's first attempt itself when it needs no admission or"
            " cache lookup, instead of sending it through the dispatch topic"
            " (docs/design/inline_dispatch.md); false sends every first attempt through it"
        ),
    )


class RetryStageConfig(_Config):
    max_held: int = Field(default=10_000, ge=1, description="events held in memory at once")


class UsageSinkConfig(_Config):
    batch_size: int = Field(default=1000, ge=1, le=100_000)
    flush_interval_s: float = Field(default=1.0, gt=0)


class DeliveryConfig(_Config):
    """How the stages hold on to events: see docs/design/delivery.md."""

    handler_tries: int = Field(
        default=3, ge=1, le=10, description="runs of a failing handler before its dead letter"
    )
    max_unacked: int = Field(
        default=50_000,
        ge=1,
        le=1_000_000,
        description="finished events per stage waiting for a slower predecessor's commit",
    )
    dedup_horizon_s: float = Field(
        default=3600.0,
        gt=0,
        le=7 * 86400,
        description="how far back the outcome ledger remembers answered request_ids",
    )


class StoreConfig(_Config):
    database: str = Field(default="routeyard", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    path: str = Field(
        default=".routeyard/chdb",
        description="embedded engine's data folder, used when CLICKHOUSE_URL is not set",
    )
    raw_retention_days: int = Field(
        default=90,
        ge=0,
        le=36_500,
        description="days raw usage rows are kept (a TTL); 0 keeps them forever; rollups stay",
    )


class AnalyticsConfig(_Config):
    """The analytics process's HTTP server: the query API and the dashboard."""

    listen: str = Field(
        default="127.0.0.1:8380",
        pattern=r"^[^\s:]+:\d{1,5}$",
        description="host:port of the query API and dashboard; report asks it first",
    )

    @model_validator(mode="after")
    def _port_in_range(self) -> Self:
        if not 0 < self.port < 65536:
            raise ValueError(f"listen: port {self.port} is not between 1 and 65535")
        return self

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def url(self) -> str:
        return f"http://{self.listen}"


# Kafka's own default message.max.bytes (1 MiB plus the 12-byte record-batch header).
KAFKA_DEFAULT_MESSAGE_BYTES = 1_048_588


class LimitsConfig(_Config):
    """Event sizes. The topics' limits and the worker's client sizes derive from these."""

    max_request_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        # Dispatch and retry topics take 3x this (event_topic_bytes), and the broker drops
        # any request over socket.request.max.bytes (100 MiB by default), which one produce
        # request carrying several partitions' batches could pass above 16 MiB. Inputs that
        # large belong behind image URLs, not in the event.
        le=16 * 1024 * 1024,
        description="a request event (its value, in bytes) larger than this is dead-lettered",
    )

    @property
    def request_topic_bytes(self) -> int:
        """The request topic's max.message.bytes: room for requests over the limit.

        Were it the request limit itself, Kafka would refuse an oversize request at publish
        and routeyard could not answer it; twice the limit lets a request up to that size
        reach triage and get its ``request_too_large`` dead letter.
        """
        return max(2 * self.max_request_bytes, KAFKA_DEFAULT_MESSAGE_BYTES)

    @property
    def event_topic_bytes(self) -> int:
        """Dispatch and retry topics' max.message.bytes: the request re-encoded, plan, error.

        Re-encoding writes every default field, so a request of many tiny messages grows up
        to 2.2x (``{"role":"user","content":"x"}`` becomes 66 bytes); 3x also covers the
        plan and the last error. An event over its topic's limit could never be published,
        so it must fit however the request was shaped.
        """
        return max(3 * self.max_request_bytes, KAFKA_DEFAULT_MESSAGE_BYTES)

    @property
    def response_topic_bytes(self) -> int:
        """The response topic's max.message.bytes: model output is not bounded by the input."""
        return max(self.max_request_bytes, KAFKA_DEFAULT_MESSAGE_BYTES)

    @property
    def largest_message_bytes(self) -> int:
        """The worker's producer request size and consumer fetch size."""
        return max(self.request_topic_bytes, self.event_topic_bytes, self.response_topic_bytes)


class GatewayConfig(_Config):
    app_id: str = "routeyard"
    topics: TopicsConfig = TopicsConfig()
    providers: dict[str, ProviderConfig] = Field(min_length=1)
    models: dict[str, ModelConfig] = Field(min_length=1)
    routes: list[RouteConfig] = Field(min_length=1)
    dispatch: DispatchConfig = DispatchConfig()
    retry: RetryStageConfig = RetryStageConfig()
    usage_sink: UsageSinkConfig = UsageSinkConfig()
    store: StoreConfig = StoreConfig()
    analytics: AnalyticsConfig = AnalyticsConfig()
    serve: ServeConfig = ServeConfig()
    limits: LimitsConfig = LimitsConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    admission: AdmissionConfig = AdmissionConfig()
    breaker: BreakerConfig = BreakerConfig()
    alerts: AlertsConfig = AlertsConfig()
    router: RouterConfig = RouterConfig()
    pii: PiiPolicies = PiiPolicies()
    provider_limits: dict[str, ProviderLimitConfig] = Field(
        default_factory=dict,
        description="rpm/tpm per provider or model name, shared by the gateway workers",
    )
    dedup_window: int = Field(
        default=100_000, ge=0, description="request_ids remembered by triage per worker"
    )

    @model_validator(mode="after")
    def _references_resolve(self) -> GatewayConfig:
        for name, model in self.models.items():
            if model.provider not in self.providers:
                raise ValueError(
                    f"models.{name}.provider: unknown provider {model.provider!r}"
                    f" (known: {', '.join(sorted(self.providers))})"
                )
        seen: set[str] = set()
        for i, route in enumerate(self.routes):
            if route.name in seen:
                raise ValueError(f"routes[{i}].name: duplicate route name {route.name!r}")
            seen.add(route.name)
            for field, model_name in [("primary", route.primary)] + [
                (f"fallbacks[{j}]", m) for j, m in enumerate(route.fallbacks)
            ]:
                if model_name not in self.models:
                    raise ValueError(
                        f"routes[{i}].{field}: unknown model {model_name!r}"
                        f" (known: {', '.join(sorted(self.models))})"
                    )
            if route.escalation is not None:
                where = f"routes[{i}].escalation"
                route.escalation.check_models(where, self.models, route.fallbacks)
            if route.consensus is not None:
                route.consensus.check_models(f"routes[{i}].consensus", self.models)
                if route.escalation is not None:
                    # first_valid runs the checks over the fan-out; escalating after a vote
                    # is not defined (docs/design/quality.md).
                    raise ValueError(f"routes[{i}]: give consensus or escalation, not both")
            # The ledger must remember an answer as long as a copy of its request may live.
            if route.retry.deadline_s > self.delivery.dedup_horizon_s:
                raise ValueError(
                    f"routes[{i}].retry.deadline_s: {route.retry.deadline_s:g} is longer than"
                    f" delivery.dedup_horizon_s ({self.delivery.dedup_horizon_s:g})"
                )
        self._admission_references_resolve()
        self._provider_limit_names_resolve()
        check_patterns_agree(self._pii_policies())
        return self

    def _pii_policies(self) -> list[tuple[str, PiiConfig]]:
        found = [("pii.default", self.pii.default)]
        found += [(f"pii.tenants.{name}", p) for name, p in self.pii.tenants.items()]
        found += [(f"routes[{i}].pii", r.pii) for i, r in enumerate(self.routes)]
        return [(where, p) for where, p in found if p is not None]

    def _provider_limit_names_resolve(self) -> None:
        for name in self.provider_limits:
            if name in self.providers and name in self.models:
                # One key cannot say which of the two it limits.
                raise ValueError(
                    f"provider_limits.{name}: {name!r} names both a provider and a model;"
                    " rename one of them"
                )
            if name not in self.providers and name not in self.models:
                raise ValueError(
                    f"provider_limits.{name}: unknown provider or model {name!r}"
                    f" (providers: {', '.join(sorted(self.providers))};"
                    f" models: {', '.join(sorted(self.models))})"
                )

    def _admission_references_resolve(self) -> None:
        policies = [("admission.default", self.admission.default)] + [
            (f"admission.tenants.{name}", policy) for name, policy in self.admission.tenants.items()
        ]
        routes = {r.name for r in self.routes}
        for where, policy in policies:
            if policy is None:
                continue
            for i, budget in enumerate(policy.budgets):
                self._budget_references_resolve(f"{where}.budgets[{i}]", budget, routes)

    def _budget_references_resolve(
        self, where: str, budget: BudgetConfig, routes: set[str]
    ) -> None:
        target = budget.downgrade_to
        checks = [
            ("route", budget.route, routes, "route"),
            ("model", budget.model, self.models, "model"),
            ("downgrade_to.route", target.route if target else None, routes, "route"),
            ("downgrade_to.model", target.model if target else None, self.models, "model"),
        ]
        for field, name, known, what in checks:
            if name is not None and name not in known:
                raise ValueError(
                    f"{where}.{field}: unknown {what} {name!r} (known: {', '.join(sorted(known))})"
                )

    def route(self, name: str) -> RouteConfig | None:
        return next((r for r in self.routes if r.name == name), None)
