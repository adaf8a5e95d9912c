"""routeyard's outcomes and chunks as OpenAI Chat Completions bodies.

- ``id`` is ``chatcmpl-<request_id>``, the same for a stream's every chunk, so a caller
  can find the request on the topics and in the usage table from the id alone.
- ``model`` is what the caller asked for (a route or a model, as written), so code that
  keys on the name it sent keeps working whichever of a route's models answered; for
  ``auto``, which names nothing, it is the config name of the model that answered. The
  answering model, provider and cost are on ``llm.responses`` and the usage rows: the
  bodies carry only fields the OpenAI SDKs declare (``citations`` have no such field).
- ``finish_reason`` is routeyard's, with ``other`` read as ``stop``: the answer ended
  without being cut, filtered or calling a tool.
- ``usage.prompt_tokens`` counts cached tokens too, which are also given as
  ``prompt_tokens_details.cached_tokens`` (OpenAI's own split).
"""

from __future__ import annotations

from typing import Any

import orjson

from routeyard.front.openai_request import AUTO_MODEL
from schemas.chat import FinishReason, ToolCall
from schemas.chunks import ChunkEvent, ToolCallChunk
from schemas.config import GatewayConfig
from schemas.responses import LLMResponse, TokenUsage

Body = dict[str, Any]

_FINISH: dict[FinishReason, str] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "other": "stop",
}


def completion_id(request_id: str) -> str:
    return f"chatcmpl-{request_id}"


def reported_model(model_label: str, answered_by: str) -> str:
    """The ``model`` a body names: the caller's own word, unless it was ``auto``."""
    return answered_by if model_label == AUTO_MODEL else model_label


def completion_body(resp: LLMResponse, model_label: str) -> Body:
    """A ``chat.completion`` for a whole answer."""
    message: Body = {
        "role": "assistant",
        # OpenAI sends null content beside tool calls, and a string otherwise.
        "content": resp.content or (None if resp.tool_calls else ""),
        "refusal": None,
    }
    if resp.tool_calls:
        message["tool_calls"] = [_tool_call(call) for call in resp.tool_calls]
    return {
        "id": completion_id(resp.request_id),
        "object": "chat.completion",
        "created": int(resp.created_at.timestamp()),
        "model": reported_model(model_label, resp.model),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": _FINISH[resp.finish_reason],
                "logprobs": None,
            }
        ],
        "usage": usage_body(resp.usage),
    }


def chunk_body(chunk: ChunkEvent, *, model_label: str, created: int, first: bool) -> Body:
    """A ``chat.completion.chunk`` for one delta; the ``first`` also names the role."""
    delta: Body = {"role": "assistant"} if first else {}
    if chunk.text or chunk.tool_call is None:
        delta["content"] = chunk.text
    if chunk.tool_call is not None:
        delta["tool_calls"] = [_tool_call_delta(chunk.tool_call)]
    model = reported_model(model_label, chunk.model)
    return _chunk(chunk.request_id, model, created, delta, finish_reason=None)


def final_chunks(
    resp: LLMResponse,
    *,
    model_label: str,
    created: int,
    include_usage: bool,
    whole: bool = False,
) -> list[Body]:
    """The chunks that close a stream (``[DONE]`` follows them): the ``finish_reason``,
    then, when the caller asked for it, the usage with no choices.

    ``whole``: no chunk of this answer was relayed (it was not streamed), so the whole
    answer goes first, as one delta with the role.
    """
    model = reported_model(model_label, resp.model)
    out: list[Body] = []
    if whole:
        delta: Body = {"role": "assistant", "content": resp.content}
        if resp.tool_calls:
            delta["tool_calls"] = [
                {"index": i, **_tool_call(call)} for i, call in enumerate(resp.tool_calls)
            ]
        out.append(_chunk(resp.request_id, model, created, delta, finish_reason=None))
    finish = _FINISH[resp.finish_reason]
    out.append(_chunk(resp.request_id, model, created, {}, finish_reason=finish))
    if include_usage:
        out.append(
            {
                "id": completion_id(resp.request_id),
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": usage_body(resp.usage),
            }
        )
    return out


def usage_body(usage: TokenUsage) -> Body:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
    }


def models_body(config: GatewayConfig, *, created: int = 0) -> Body:
    """``GET /v1/models``: ``auto``, then the routes, then the models, in config order.

    A name that is both a route and a model is listed once (it asks for the route).
    ``created`` is not known for a config entry; 0 unless the server gives its start.
    """
    names = dict.fromkeys([AUTO_MODEL, *(r.name for r in config.routes), *config.models])
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": created, "owned_by": "routeyard"}
            for name in names
        ],
    }


def _chunk(
    request_id: str, model: str, created: int, delta: Body, *, finish_reason: str | None
) -> Body:
    return {
        "id": completion_id(request_id),
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }


def _tool_call(call: ToolCall) -> Body:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": orjson.dumps(call.arguments).decode()},
    }


def _tool_call_delta(piece: ToolCallChunk) -> Body:
    out: Body = {"index": piece.index}
    function: Body = {"arguments": piece.arguments}
    if piece.id is not None:
        # The piece that opens a call says what it is; later ones only add arguments.
        out |= {"id": piece.id, "type": "function"}
    if piece.name is not None:
        function["name"] = piece.name
    out["function"] = function
    return out
