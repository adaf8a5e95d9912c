"""The ``admission:`` section of the config: tenant budgets and rate limits.

See docs/design/state.md for what each setting guarantees. A tenant listed under
``tenants`` gets exactly its own policy; every other tenant gets ``default`` (or no limit
when ``default`` is unset). With neither, admission is off and triage feeds dispatch
directly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Period = Literal["day", "month"]
BudgetMode = Literal["hard", "soft"]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DowngradeTarget(_Config):
    """Where a soft budget sends requests past its limit: one model, or a route."""

    model: str | None = None
    route: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.model is None) == (self.route is None):
            raise ValueError("give exactly one of model or route")
        return self


class BudgetConfig(_Config):
    period: Period
    limit_usd: Decimal = Field(gt=0)
    mode: BudgetMode = "hard"
    route: str | None = Field(default=None, description="count only requests of this route")
    model: str | None = Field(
        default=None, description="count only requests whose first choice is this model"
    )
    downgrade_to: DowngradeTarget | None = Field(
        default=None, description="soft mode: the cheaper model or route past the limit"
    )
    alert_at: list[float] = Field(
        default_factory=lambda: [0.5, 0.8, 1.0],
        max_length=10,
        description="fractions of the limit whose crossing publishes a budget alert",
    )

    @model_validator(mode="after")
    def _mode_fits(self) -> Self:
        if self.mode == "soft" and self.downgrade_to is None:
            raise ValueError("downgrade_to: Field required for a soft budget")
        if self.mode == "hard" and self.downgrade_to is not None:
            raise ValueError("downgrade_to: only a soft budget downgrades (mode is hard)")
        for value in self.alert_at:
            if not 0 < value <= 10:
                raise ValueError(f"alert_at: {value:g} is not a fraction in (0, 10]")
        return self

    @property
    def id(self) -> str:
        """Names the budget in state, alerts and reports: period plus its scope."""
        scope = "".join(
            f":{name}={value}"
            for name, value in (("route", self.route), ("model", self.model))
            if value is not None
        )
        return f"{self.period}{scope}"


class RateLimitConfig(_Config):
    requests_per_minute: int | None = Field(default=None, gt=0)
    tokens_per_minute: int | None = Field(
        default=None, gt=0, description="estimated input tokens plus max_tokens"
    )
    burst_s: float = Field(
        default=5.0, gt=0, le=60, description="bucket capacity, in seconds of the rate"
    )
    on_limit: Literal["delay", "reject"] = "delay"

    @model_validator(mode="after")
    def _some_limit(self) -> Self:
        if self.requests_per_minute is None and self.tokens_per_minute is None:
            raise ValueError("requests_per_minute: give it, tokens_per_minute, or both")
        return self


class TenantPolicy(_Config):
    budgets: list[BudgetConfig] = Field(default_factory=list)
    rate_limit: RateLimitConfig | None = None

    @model_validator(mode="after")
    def _budget_ids_unique(self) -> Self:
        seen: set[str] = set()
        for i, budget in enumerate(self.budgets):
            if budget.id in seen:
                raise ValueError(
                    f"budgets[{i}]: a second {budget.id!r} budget (same period and scope)"
                )
            seen.add(budget.id)
        return self


class AdmissionConfig(_Config):
    default: TenantPolicy | None = Field(
        default=None, description="the policy of every tenant not listed in tenants"
    )
    tenants: dict[str, TenantPolicy] = Field(default_factory=dict)
    default_max_tokens: int = Field(
        default=1024, gt=0, description="output tokens assumed for a request without max_tokens"
    )
    bytes_per_token: float = Field(
        default=3.0, gt=0, le=8, description="UTF-8 bytes of prompt per token, estimated low"
    )
    image_tokens: int = Field(default=1500, ge=0, description="input tokens assumed per image")
    reservation_grace_s: float = Field(
        default=600.0,
        gt=0,
        description="a reservation without its final spend is dropped this long after"
        " the request's deadline",
    )
    snapshot_interval_ms: int = Field(
        default=100, ge=0, le=10_000, description="least time between two snapshots of a tenant"
    )

    @property
    def enabled(self) -> bool:
        return self.default is not None or bool(self.tenants)

    def policy_for(self, tenant: str) -> TenantPolicy | None:
        return self.tenants.get(tenant, self.default)
