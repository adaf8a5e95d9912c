"""Emulator configuration: latency and fault profiles per upstream model, and sampling.

Example YAML::

    seed: 7
    default:
      latency: {dist: lognormal, median_ms: 40, sigma: 0.5, max_ms: 2000}
      error_rates: {429: 0.02, 500: 0.01}
      retry_after_s: 1
      context_window: 128000
    models:
      flaky-large:
        latency: {dist: uniform, min_ms: 100, max_ms: 300}
        error_rates: {503: 0.2, 529: 0.1}
        hang_rate: 0.05
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Annotated, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

# Statuses the emulator knows how to render in both vendors' error shapes.
ErrorStatus = Literal[429, 500, 502, 503, 504, 529]
Rate = Annotated[float, Field(ge=0.0, le=1.0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FixedLatency(_Model):
    dist: Literal["fixed"] = "fixed"
    ms: float = Field(default=0.0, ge=0)

    def sample_ms(self, rng: random.Random) -> float:
        return self.ms


class UniformLatency(_Model):
    dist: Literal["uniform"]
    min_ms: float = Field(ge=0)
    max_ms: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max_ms < self.min_ms:
            raise ValueError("max_ms must be at least min_ms")
        return self

    def sample_ms(self, rng: random.Random) -> float:
        return rng.uniform(self.min_ms, self.max_ms)


class LognormalLatency(_Model):
    """Long-tailed like real model latency: most calls near the median, a few slow."""

    dist: Literal["lognormal"]
    median_ms: float = Field(gt=0)
    sigma: float = Field(default=0.5, ge=0, le=5)
    max_ms: float = Field(default=60_000.0, gt=0, description="cap on the tail")

    def sample_ms(self, rng: random.Random) -> float:
        return min(rng.lognormvariate(math.log(self.median_ms), self.sigma), self.max_ms)


Latency = Annotated[FixedLatency | UniformLatency | LognormalLatency, Field(discriminator="dist")]

Fault = Literal[
    "ok", "error", "hang", "malformed", "content_filter", "empty", "invalid_json", "refusal"
]


class FaultPick(_Model):
    fault: Fault
    status: ErrorStatus | None = None


class FaultProfile(_Model):
    """How one upstream model behaves. All rates are per request and exclusive."""

    latency: Latency = FixedLatency()
    error_rates: dict[ErrorStatus, Rate] = Field(default_factory=dict)
    retry_after_s: float | None = Field(
        default=1.0, ge=0, description="sent with 429s; None sends no Retry-After"
    )
    hang_rate: Rate = 0.0
    hang_s: float = Field(default=120.0, gt=0, le=600, description="how long a hung request sleeps")
    malformed_rate: Rate = Field(default=0.0, description="200 with a truncated JSON body")
    content_filter_rate: Rate = Field(
        default=0.0, description="answers blocked by the safety filter"
    )
    context_window: int = Field(default=128_000, gt=0, description="prompt tokens allowed")
    answer: str | None = Field(
        default=None,
        description="the fixed text of every plain-text reply (not tool calls or JSON mode);"
        " None echoes the prompt. Lets tests make models agree or disagree",
    )
    # Answer faults: the call succeeds (HTTP 200, billed), the answer is bad.
    empty_rate: Rate = Field(default=0.0, description="answers with no text and no tool call")
    invalid_json_rate: Rate = Field(
        default=0.0,
        description="JSON-mode answers whose document is not closed (other calls: a normal"
        " answer, counted ok)",
    )
    refusal_rate: Rate = Field(default=0.0, description="answers that only refuse")

    @model_validator(mode="after")
    def _rates_fit(self) -> Self:
        if self._total_rate() > 1.0 + 1e-9:
            raise ValueError(
                "error_rates, hang_rate, malformed_rate, content_filter_rate, empty_rate,"
                " invalid_json_rate and refusal_rate sum above 1"
            )
        return self

    def _total_rate(self) -> float:
        return (
            sum(self.error_rates.values())
            + self.hang_rate
            + self.malformed_rate
            + self.content_filter_rate
            + self.empty_rate
            + self.invalid_json_rate
            + self.refusal_rate
        )

    def pick_fault(self, rng: random.Random) -> FaultPick:
        """One draw decides the request's fate, so rates are exact shares of traffic."""
        draw = rng.random()
        for status, rate in sorted(self.error_rates.items()):
            if draw < rate:
                return FaultPick(fault="error", status=status)
            draw -= rate
        for fault, rate in (
            ("hang", self.hang_rate),
            ("malformed", self.malformed_rate),
            ("content_filter", self.content_filter_rate),
            # After the older faults, so adding these leaves every older draw's fate alone.
            ("empty", self.empty_rate),
            ("invalid_json", self.invalid_json_rate),
            ("refusal", self.refusal_rate),
        ):
            if draw < rate:
                return FaultPick(fault=fault)
            draw -= rate
        return FaultPick(fault="ok")

    def sample_latency_s(self, rng: random.Random) -> float:
        return self.latency.sample_ms(rng) / 1000.0


class EmulatorConfig(_Model):
    seed: int = 0
    default: FaultProfile = FaultProfile()
    models: dict[str, FaultProfile] = Field(
        default_factory=dict, description="overrides keyed by upstream model name"
    )
    capture: int = Field(
        default=0,
        ge=0,
        le=10_000,
        description="keep the last N chat request bodies for GET /_emulator/received; 0: off",
    )

    def profile_for(self, model: str) -> FaultProfile:
        return self.models.get(model, self.default)


def load_emulator_config(path: str | Path) -> EmulatorConfig:
    """Read an :class:`EmulatorConfig` from a YAML file; an empty file means defaults."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return EmulatorConfig.model_validate(data or {})
