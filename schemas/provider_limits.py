"""The ``provider_limits:`` section of the config: calls and tokens per minute a provider
(or one model of it) accepts, held across all gateway workers.

Keyed by a provider name or a model name from the same file (``GatewayConfig`` checks
the names). How the limit is shared between workers and what it guarantees: README
"Provider limits" and docs/design/routing.md.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

OnProviderLimit = Literal["wait", "next_model"]


class ProviderLimitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rpm: int | None = Field(default=None, gt=0, description="calls per minute")
    tpm: int | None = Field(
        default=None, gt=0, description="tokens per minute: estimated input plus max_tokens"
    )
    burst_s: float = Field(
        default=1.0, gt=0, le=60, description="bucket capacity, in seconds of the rate"
    )
    on_limit: OnProviderLimit = "wait"
    max_wait_s: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="on_limit wait: a call whose slot is further away moves on instead",
    )

    @model_validator(mode="after")
    def _some_limit(self) -> Self:
        if self.rpm is None and self.tpm is None:
            raise ValueError("rpm: give it, tpm, or both")
        return self
