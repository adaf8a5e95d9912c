"""The interface every provider adapter implements."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import ChatMessage, FinishReason, GenerationParams


class ProviderRequest(BaseModel):
    """One chat call, already resolved to the provider's own model name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    upstream_model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    params: GenerationParams = GenerationParams()


class ProviderResult(BaseModel):
    """A successful answer, normalised across wire formats."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    content: str
    finish_reason: FinishReason
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    provider_request_id: str | None
    upstream_model: str = Field(description="the model name as the provider reported it")


class ChatAdapter(Protocol):
    """Sends one request to one provider.

    ``complete`` either returns a result or raises an
    :class:`adapters.errors.ProviderError` subclass; nothing else escapes, except
    cancellation.
    """

    provider: str
    """The provider's name in the gateway config."""

    async def complete(self, request: ProviderRequest, *, timeout_s: float) -> ProviderResult: ...
