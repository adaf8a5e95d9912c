"""The interface every provider adapter implements."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from adapters.capabilities import Capabilities
from schemas.chat import (
    ChatMessage,
    FinishReason,
    GenerationParams,
    ResponseFormat,
    ToolCall,
    ToolChoice,
    ToolSpec,
)


class ProviderRequest(BaseModel):
    """One chat call, already resolved to the provider's own model name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    upstream_model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    params: GenerationParams = GenerationParams()
    tools: list[ToolSpec] = Field(default_factory=list)
    tool_choice: ToolChoice = "auto"
    response_format: ResponseFormat | None = None


class ProviderResult(BaseModel):
    """A successful answer, normalised across wire formats."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    content: str
    tool_calls: list[ToolCall] = Field(default_factory=list)
    finish_reason: FinishReason
    input_tokens: int = Field(ge=0, description="all prompt tokens, cached ones included")
    output_tokens: int = Field(ge=0)
    cached_input_tokens: int = Field(default=0, ge=0, description="where the provider reports it")
    citations: list[str] = Field(default_factory=list, description="source URLs, if any")
    provider_request_id: str | None
    upstream_model: str = Field(description="the model name as the provider reported it")


class ChatAdapter(Protocol):
    """Sends one request to one provider.

    ``complete`` either returns a result or raises an
    :class:`adapters.errors.ProviderError` subclass; nothing else escapes, except
    cancellation. Callers check ``capabilities`` first (see
    :func:`adapters.capabilities.check_supported`), so ``complete`` may assume the
    request only uses features the provider has.
    """

    provider: str
    """The provider's name in the gateway config."""

    capabilities: Capabilities

    async def complete(self, request: ProviderRequest, *, timeout_s: float) -> ProviderResult: ...
