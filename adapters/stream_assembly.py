"""The whole result of a stream, assembled from its deltas as they pass."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from adapters.base import ProviderResult, StreamDelta, TextDelta
from adapters.errors import MalformedResponse
from schemas.chat import FinishReason, ToolCall


@dataclass
class _PartialCall:
    id: str | None = None
    name: str | None = None
    arguments: list[str] = field(default_factory=list)


@dataclass
class StreamAssembler:
    """Collects deltas; :meth:`result` builds what ``complete`` would have returned."""

    provider: str
    text: list[str] = field(default_factory=list)
    calls: dict[int, _PartialCall] = field(default_factory=dict)

    def add(self, delta: StreamDelta) -> StreamDelta:
        if isinstance(delta, TextDelta):
            self.text.append(delta.text)
            return delta
        call = self.calls.setdefault(delta.index, _PartialCall())
        call.id = call.id or delta.id
        call.name = call.name or delta.name
        call.arguments.append(delta.arguments)
        return delta

    def tool_calls(self) -> list[ToolCall]:
        done = []
        for index in sorted(self.calls):
            call = self.calls[index]
            text = "".join(call.arguments) or "{}"
            try:
                arguments = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise MalformedResponse(
                    f"tool call {index} arguments are not JSON: {text[:200]!r}",
                    provider=self.provider,
                ) from exc
            if not isinstance(arguments, dict) or not call.id or not call.name:
                raise MalformedResponse(
                    f"tool call {index} streamed without an id, a name or object arguments",
                    provider=self.provider,
                )
            done.append(ToolCall(id=call.id, name=call.name, arguments=arguments))
        return done

    def result(
        self,
        *,
        finish_reason: FinishReason,
        input_tokens: int,
        output_tokens: int,
        provider_request_id: str | None,
        upstream_model: str,
        cached_input_tokens: int = 0,
        citations: list[str] | None = None,
    ) -> ProviderResult:
        return ProviderResult(
            content="".join(self.text),
            tool_calls=self.tool_calls(),
            finish_reason=finish_reason,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached_input_tokens,
            citations=citations or [],
            provider_request_id=provider_request_id,
            upstream_model=upstream_model,
        )
