"""The config file: providers, models, routes, topics, and stage settings.

Loaded from YAML by :func:`schemas.config_loader.load_config`; every model forbids
unknown fields so a typo stops start-up with the field's path in the message.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from schemas.events import TaskType, Tier

WireFormat = Literal["openai", "anthropic"]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderConfig(_Config):
    format: WireFormat
    base_url: HttpUrl
    api_key_env: str | None = Field(
        default=None, description="name of the environment variable holding the key"
    )
    timeout_s: float = Field(default=30.0, gt=0, le=600)


class ModelConfig(_Config):
    provider: str
    upstream: str = Field(min_length=1, description="the model name the provider knows")
    input_per_mtok: Decimal = Field(ge=0, description="USD per 1M input tokens")
    output_per_mtok: Decimal = Field(ge=0, description="USD per 1M output tokens")
    context_window: int = Field(gt=0)
    tags: list[str] = Field(default_factory=list)


class RetryPolicyConfig(_Config):
    max_attempts: int = Field(default=4, ge=1, le=20)
    backoff_initial_s: float = Field(default=0.5, ge=0)
    backoff_multiplier: float = Field(default=2.0, ge=1)
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


class RouteConfig(_Config):
    name: str = Field(min_length=1)
    when: RouteMatch = RouteMatch()
    primary: str
    fallbacks: list[str] = Field(default_factory=list)
    retry: RetryPolicyConfig = RetryPolicyConfig()


class TopicsConfig(_Config):
    requests: str = "llm.requests"
    dispatch: str = "llm.dispatch"
    responses: str = "llm.responses"
    retry: str = "llm.retry"
    dlq: str = "llm.dlq"
    usage: str = "llm.usage"
    partitions: int = Field(default=4, ge=1)


class DispatchConfig(_Config):
    max_in_flight: int = Field(default=512, ge=1, le=20_000)


class RetryStageConfig(_Config):
    max_held: int = Field(default=10_000, ge=1, description="events held in memory at once")


class UsageSinkConfig(_Config):
    batch_size: int = Field(default=1000, ge=1, le=100_000)
    flush_interval_s: float = Field(default=1.0, gt=0)


class StoreConfig(_Config):
    database: str = Field(default="routeyard", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    path: str = Field(
        default=".routeyard/chdb",
        description="embedded engine's data folder, used when CLICKHOUSE_URL is not set",
    )


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
        return self

    def route(self, name: str) -> RouteConfig | None:
        return next((r for r in self.routes if r.name == name), None)
