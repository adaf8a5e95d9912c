"""What a provider's wire format can carry, checked before any call is made.

A request that needs a feature the provider lacks fails with
:class:`adapters.errors.UnsupportedFeature` before the HTTP call, so the retry policy
can move to the next model of the route instead of sending something the provider
would drop or reject.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from adapters.errors import UnsupportedFeature
from schemas.chat import ChatMessage, GenerationParams, ResponseFormat, ToolChoice, ToolSpec

if TYPE_CHECKING:
    from adapters.base import ProviderRequest

Feature = Literal[
    "system_prompt",
    "images",
    "image_urls",
    "tools",
    "tool_choice_required",
    "json_object",
    "json_schema",
    "temperature",
    "top_p",
    "stop",
]


def features(*names: Feature) -> frozenset[Feature]:
    return frozenset(names)


@dataclass(frozen=True)
class Capabilities:
    features: frozenset[Feature]
    streaming: bool = False
    """The wire format can stream; the pipeline itself answers whole responses."""
    reports_cached_tokens: bool = False

    def __contains__(self, feature: str) -> bool:
        return feature in self.features


class ChatCall(Protocol):
    """What decides the features a call needs: a provider request, or the gateway's own
    request before a model is chosen (routing filters candidates by it)."""

    @property
    def messages(self) -> Sequence[ChatMessage]: ...
    @property
    def params(self) -> GenerationParams: ...
    @property
    def tools(self) -> Sequence[ToolSpec]: ...
    @property
    def tool_choice(self) -> ToolChoice: ...
    @property
    def response_format(self) -> ResponseFormat | None: ...


def required_features(request: ChatCall) -> set[Feature]:
    needed: set[Feature] = set()
    for message in request.messages:
        if message.role == "system":
            needed.add("system_prompt")
        for image in message.images:
            needed.add("images")
            if image.url is not None:
                needed.add("image_urls")
    if request.tools:
        needed.add("tools")
        if request.tool_choice == "required":
            needed.add("tool_choice_required")
    if request.response_format is not None and request.response_format.type != "text":
        needed.add(request.response_format.type)
    params = request.params
    if params.temperature is not None:
        needed.add("temperature")
    if params.top_p is not None:
        needed.add("top_p")
    if params.stop:
        needed.add("stop")
    return needed


def check_supported(request: ProviderRequest, capabilities: Capabilities, provider: str) -> None:
    missing = sorted(required_features(request) - capabilities.features)
    if missing:
        raise UnsupportedFeature(
            f"{request.upstream_model} via {provider} does not support: {', '.join(missing)}",
            provider=provider,
        )
