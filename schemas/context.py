"""A route's context-window policy, and the record of what it did to a request.

``routes[].context`` says what triage does when a request's estimated input (with the
tokenizer family's safety margin) plus its output allowance exceeds the window of the
model that would serve it first (docs/design/request_policies.md):

- ``move`` (default): the chain drops the models whose window cannot hold the request, so
  the first that can serves it, with no failed call. When none can, ``when_none_fit``
  decides: ``reject`` (default) or ``fit`` (to the roomiest model).
- ``fit``: the first choice keeps the request, fitted to its window by the ``fit`` steps.
- ``reject``: a ``context_too_long`` dead letter with the figures, no move and no fit.

The record (:class:`ContextRecord`) travels on the dispatch event, the response and the
dead letter; the usage rows carry its action.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

OverflowAction = Literal["move", "fit", "reject"]
FitStep = Literal["drop_oldest", "truncate_middle"]
ContextAction = Literal["moved", "fitted", "rejected"]

# The tokenizer families of policy/tokens.py (Family's values; a test keeps them equal).
# Spelled out here so the config schema does not load the tokenizers.
TokenFamily = Literal[
    "openai-o200k",
    "openai-cl100k",
    "anthropic",
    "anthropic-4.7",
    "mistral-tekken",
    "mistral-spm",
    "llama3",
    "gemini",
    "cohere",
    "default",
]

# Above this a margin is surely a typo (the widest measured need is under 0.5).
MAX_MARGIN = 3.0
Margin = Annotated[float, Field(ge=0, le=MAX_MARGIN, allow_inf_nan=False)]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _all_steps() -> list[FitStep]:
    return ["drop_oldest", "truncate_middle"]


class FitConfig(_Config):
    """How a conversation is fitted to a window: each step in turn until it fits."""

    steps: list[FitStep] = Field(
        default_factory=_all_steps,
        min_length=1,
        description="drop_oldest: whole turns, oldest first; truncate_middle: cut the middle"
        " of the longest message left",
    )
    keep_last_turns: int = Field(
        default=2, ge=1, le=10_000, description="turns drop_oldest never drops (the newest)"
    )

    @field_validator("steps")
    @classmethod
    def _each_once(cls, steps: list[FitStep]) -> list[FitStep]:
        if len(set(steps)) != len(steps):
            raise ValueError(f"each step at most once, got {steps}")
        return steps


class ContextPolicy(_Config):
    on_overflow: OverflowAction = Field(
        default="move", description="when the first choice's window cannot hold the request"
    )
    when_none_fit: Literal["fit", "reject"] = Field(
        default="reject", description="move only: what to do when no model's window holds it"
    )
    fit: FitConfig = FitConfig()
    margins: dict[TokenFamily, Margin] = Field(
        default_factory=dict,
        description="safety margin per tokenizer family, replacing policy/tokens.py's measured"
        " one (e.g. anthropic: 0.3 adds 30 % to the estimate)",
    )

    @model_validator(mode="after")
    def _settings_used(self) -> Self:
        # A setting the chosen action ignores is most likely a mistake in the action.
        # Judged by value, not by presence: a dumped config carries every default.
        fields = type(self).model_fields
        if self.on_overflow != "move" and self.when_none_fit != fields["when_none_fit"].default:
            raise ValueError(
                f"when_none_fit: only on_overflow move takes it (on_overflow is {self.on_overflow})"
            )
        fits = self.on_overflow == "fit" or (
            self.on_overflow == "move" and self.when_none_fit == "fit"
        )
        if not fits and self.fit != FitConfig():
            raise ValueError(
                "fit: used only with on_overflow fit, or move with when_none_fit fit"
                f" (on_overflow is {self.on_overflow}, when_none_fit {self.when_none_fit})"
            )
        return self

    @property
    def fits(self) -> bool:
        """Whether a request too long for every model is fitted rather than rejected."""
        return self.on_overflow == "fit" or (
            self.on_overflow == "move" and self.when_none_fit == "fit"
        )


DEFAULT_POLICY = ContextPolicy()
"""What a request pinned to one model (no route) gets: it fits, or it is rejected."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContextRecord(_Part):
    """What the context policy did to a request, with the figures it decided on.

    The figures are for ``model``: the one moved to, fitted to, or (rejected) the one
    the request was measured against. Token figures are estimates for ``model``'s
    tokenizer family, before the margin.
    """

    action: ContextAction
    model: str
    moved_from: str | None = Field(default=None, description="moved: the first choice it left")
    family: TokenFamily
    window: int = Field(gt=0, description="the model's context_window")
    max_tokens: int = Field(ge=0, description="the output allowance counted against it")
    margin: float = Field(
        ge=0, description="the family's safety margin (an extrapolated part takes 15 % more)"
    )
    tokens_before: int = Field(ge=0, description="estimated input tokens as sent")
    tokens_after: int = Field(ge=0, description="estimated input tokens as sent on")
    extrapolated: bool = Field(
        default=False, description="part of the estimate came from a sample of a long text"
    )
    turns_dropped: int = Field(default=0, ge=0)
    messages_dropped: int = Field(default=0, ge=0)
    messages_cut: int = Field(default=0, ge=0, description="messages whose middle was cut")
