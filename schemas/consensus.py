"""What a response says about the consensus that chose it (docs/design/quality.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# What a usage row's call was for: '' an ordinary call; a consensus voter; the voter that
# stands for the request in analytics' request count (the first the gate let through: one
# per fan-out, docs/design/analytics.md); the judge.
CallPurpose = Literal["", "consensus", "consensus_lead", "judge"]
LEAD_PURPOSE: CallPurpose = "consensus_lead"


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VoterMiss(_Part):
    """A model whose answer did not take part: its call failed, it was refused before any
    call, or (first_valid) its answer failed a quality check."""

    model: str
    reason: str = Field(
        description="the call's error kind, breaker_open / provider_limited, or the check"
    )


class ConsensusOutcome(_Part):
    strategy: Literal["majority", "first_valid", "judge"]
    asked: list[str] = Field(description="the models asked, in the configured order")
    answered: list[str] = Field(default_factory=list, description="those that answered")
    agreed: list[str] = Field(
        default_factory=list,
        description="the answered models whose normalized answer equals the chosen one's",
    )
    chosen: str | None = Field(default=None, description="the model whose answer this is")
    failed: list[VoterMiss] = Field(
        default_factory=list, description="models left out: call failed or refused"
    )
    rejected: list[VoterMiss] = Field(
        default_factory=list, description="first_valid: answers that failed a quality check"
    )
    cancelled: list[str] = Field(
        default_factory=list, description="first_valid: calls stopped once an answer passed"
    )
    judge: str | None = Field(default=None, description="judge: the model asked to pick")
    decided: bool = Field(
        default=True,
        description="False: a fallback rule picked (below min_agree, no valid answer, the"
        " judge's reply unreadable or its call failed); note says which",
    )
    note: str = ""
    skipped: Literal["streamed"] | None = Field(
        default=None, description="consensus not run: a streamed request has one stream"
    )
