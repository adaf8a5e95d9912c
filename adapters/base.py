"""The interface every provider adapter implements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal, Protocol

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


class TextDelta(BaseModel):
    """A piece of the answer's text, in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["text"] = "text"
    text: str


class ToolCallDelta(BaseModel):
    """A piece of one tool call: the first piece of a call names it, later ones add to
    its arguments (a JSON text split anywhere). ``index`` orders calls within the answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["tool_call"] = "tool_call"
    index: int = Field(ge=0)
    id: str | None = None
    name: str | None = None
    arguments: str = ""


StreamDelta = TextDelta | ToolCallDelta
# What ``ChatAdapter.stream`` yields: deltas, then exactly one ProviderResult, last.
StreamPart = TextDelta | ToolCallDelta | ProviderResult


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

    def stream(self, request: ProviderRequest, *, timeout_s: float) -> AsyncIterator[StreamPart]:
        """The same call in the provider's streaming mode: deltas as they arrive, then the
        whole result (the deltas assembled, usage, finish reason) as the last item.

        Errors are those of ``complete``, raised before the first delta or between two;
        a stream that stops before the provider's closing event raises
        :class:`adapters.errors.StreamInterrupted`. ``timeout_s`` bounds the whole stream.
        """
        ...
