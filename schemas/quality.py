"""Per-route quality control settings: escalation (and consensus, docs/design/quality.md).

A route's ``escalation`` runs quality checks on each answer (``policy/quality.py``) and,
when one fails, asks a stronger model instead (``streams/escalation.py``).

This module is shared: each helper appends its own classes, never edits another's.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.responses import QualityCheck

ALL_CHECKS: tuple[QualityCheck, ...] = get_args(QualityCheck)


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EscalationConfig(_Config):
    """When an answer fails a check, try the next stronger model, up to ``max_attempts``.

    A check that does not apply to a request (``json`` without JSON mode, ``tool_arguments``
    without tool calls) passes it, so the default, every check, is "all that apply".
    """

    checks: list[QualityCheck] = Field(
        default_factory=lambda: list(ALL_CHECKS),
        min_length=1,
        description="the checks run on each answer, in policy/quality.py's order",
    )
    models: list[str] | None = Field(
        default=None,
        min_length=1,
        description="models to escalate to, in order; default: the route's remaining candidates",
    )
    max_attempts: int = Field(
        default=2, ge=2, le=10, description="answers tried in all, the first one included"
    )
    on_exhausted: Literal["respond", "dead_letter"] = Field(
        default="respond",
        description="no answer passed: respond with the last one (flagged), or dead-letter",
    )

    @model_validator(mode="after")
    def _no_repeats(self) -> Self:
        for field, values in (("checks", self.checks), ("models", self.models or [])):
            seen: set[str] = set()
            for j, value in enumerate(values):
                if value in seen:
                    raise ValueError(f"{field}[{j}]: {value!r} is listed twice")
                seen.add(value)
        return self

    def check_models(self, where: str, known: Collection[str], fallbacks: list[str]) -> None:
        """Raise ValueError naming ``{where}.models[j]`` for a model the config lacks."""
        if self.models is None:
            if not fallbacks:
                raise ValueError(
                    f"{where}.models: the route has no fallbacks to escalate to; name the"
                    " models to escalate to"
                )
            return
        for j, name in enumerate(self.models):
            if name not in known:
                raise ValueError(
                    f"{where}.models[{j}]: unknown model {name!r}"
                    f" (known: {', '.join(sorted(known))})"
                )


ConsensusStrategy = Literal["majority", "first_valid", "judge"]


class ConsensusConfig(_Config):
    """Ask several models at once and keep one answer (policy/consensus.py has the rules).

    Non-streamed requests only: a streamed request on the route is answered by the route's
    candidates as usual, and its response says consensus was skipped.
    """

    models: list[str] = Field(
        min_length=2, max_length=16, description="the models asked, in tie-break order"
    )
    strategy: ConsensusStrategy = Field(
        default="majority",
        description="majority: most common normalized answer; first_valid: first answer to"
        " pass the checks; judge: judge_model picks one",
    )
    judge_model: str | None = Field(default=None, description="judge only: the model that picks")
    min_agree: int | None = Field(
        default=None,
        ge=1,
        description="majority (and the judge's fallback): answers that must agree for the pick"
        " to count as decided; fewer gives the plurality, flagged; default: more than half",
    )
    checks: list[QualityCheck] = Field(
        default_factory=lambda: list(ALL_CHECKS),
        min_length=1,
        description="first_valid only: the quality checks an answer must pass",
    )

    @model_validator(mode="after")
    def _fits_strategy(self) -> Self:
        for j, name in enumerate(self.models):
            if name in self.models[:j]:
                raise ValueError(f"models[{j}]: {name!r} is listed twice")
        if (self.strategy == "judge") != (self.judge_model is not None):
            raise ValueError(
                "judge_model: required by the judge strategy, and taken by it only"
                f" (strategy is {self.strategy})"
            )
        if self.min_agree is not None:
            if self.strategy == "first_valid":
                raise ValueError("min_agree: first_valid takes no vote (use majority or judge)")
            if self.min_agree > len(self.models):
                raise ValueError(
                    f"min_agree: {self.min_agree} is more than the {len(self.models)} models asked"
                )
        # Judged by value, like the route's strategy settings: a dumped config has defaults.
        if self.strategy != "first_valid" and self.checks != list(ALL_CHECKS):
            raise ValueError(f"checks: only first_valid takes them (strategy is {self.strategy})")
        return self

    @property
    def agree_needed(self) -> int:
        return self.min_agree if self.min_agree is not None else len(self.models) // 2 + 1

    def check_models(self, where: str, known: Collection[str]) -> None:
        """Raise ValueError naming ``{where}.models[j]`` (or ``judge_model``) for a model the
        config lacks."""
        named = [(f"models[{j}]", m) for j, m in enumerate(self.models)]
        if self.judge_model is not None:
            named.append(("judge_model", self.judge_model))
        for field, name in named:
            if name not in known:
                raise ValueError(
                    f"{where}.{field}: unknown model {name!r} (known: {', '.join(sorted(known))})"
                )
