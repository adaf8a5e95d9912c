"""Router scoring settings: which complexity scorer triage uses and where its tiers split.

The score is the probability that the strong model is needed (the learned scorer) or a
hand-weighted heuristic in [0, 1]. Tiers cut the score at two thresholds; when the config
leaves them out, the scorer's own defaults apply (the learned model ships its calibrated
thresholds beside its weights; the heuristic keeps 0.35 / 0.65).
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

ScorerName = Literal["learned", "heuristic"]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierThresholds(_Config):
    """score < moderate -> simple; moderate <= score < complex -> moderate; else complex."""

    moderate: float = Field(ge=0, le=1)
    complex: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.moderate > self.complex:
            raise ValueError(
                f"moderate ({self.moderate:g}) must not be above complex ({self.complex:g})"
            )
        return self


class RouterConfig(_Config):
    scorer: ScorerName = Field(
        default="learned", description="learned (policy/learned_score.py) or heuristic"
    )
    model_dir: str | None = Field(
        default=None,
        description="a folder holding your own trained scorer; None: the one shipped with"
        " routeyard",
    )
    encoder_dir: str | None = Field(
        default=None,
        description="the static encoder's folder (routeyard router build-encoder --out);"
        " None: where build-encoder writes by default (~/.cache/routeyard/encoder/...)",
    )
    thresholds: TierThresholds | None = Field(
        default=None,
        description="tier cut points on the score; None: the scorer's defaults"
        " (routeyard router calibrate writes these)",
    )
