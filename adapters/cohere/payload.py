"""Our chat request as a Cohere Chat v2 request body.

Messages keep their roles (Cohere has system, user, assistant and tool roles). Images
go as ``image_url`` content parts, inline ones as ``data:`` URIs. An assistant's tool
calls carry their JSON arguments as a string, and the text said alongside them goes
to ``tool_plan``, where Cohere's own replies put it. Tool results are answered by
``tool_call_id`` with text content blocks. Tools and content parts have OpenAI's shapes.
"""

from __future__ import annotations

from adapters import json_body
from adapters.base import ProviderRequest
from adapters.errors import UnsupportedFeature
from adapters.generation_fields import generation_fields
from adapters.openai.payload import content_part, function_tool
from schemas.chat import ChatMessage

# Cohere has no "auto" value: leaving tool_choice out is its auto.
_TOOL_CHOICE = {"required": "REQUIRED", "none": "NONE"}
_MIN_P, _MAX_P = 0.01, 0.99


def build_payload(request: ProviderRequest, *, provider: str) -> dict[str, object]:
    """The request body; optional parameters are sent only when set.

    Raises :class:`UnsupportedFeature` for what the capabilities cannot express:
    images outside user messages, and JSON output together with tools, which the
    API rejects ("not supported in combination with documents or tools").
    """
    payload: dict[str, object] = {
        "model": request.upstream_model,
        "messages": [_message(m, provider) for m in request.messages],
        "stream": False,
    }
    if request.tools:
        payload["tools"] = [function_tool(t) for t in request.tools]
        choice = _TOOL_CHOICE.get(request.tool_choice)
        if choice is not None:
            payload["tool_choice"] = choice
    response_format = request.response_format
    if response_format is not None and response_format.type != "text":
        if request.tools:
            raise UnsupportedFeature(
                "Cohere cannot combine a JSON response format with tools", provider=provider
            )
        json_format: dict[str, object] = {"type": "json_object"}
        if response_format.json_schema is not None:
            json_format["json_schema"] = response_format.json_schema
        payload["response_format"] = json_format
    params = request.params
    payload |= generation_fields(params, max_tokens="max_tokens", top_p="p", stop="stop_sequences")
    if params.top_p is not None:
        # Cohere takes p in [0.01, 0.99]; 1.0 ("no nucleus cut") and tiny values are
        # rejected, and the nearest accepted value samples the same in practice.
        payload["p"] = min(max(params.top_p, _MIN_P), _MAX_P)
    return payload


def _message(message: ChatMessage, provider: str) -> dict[str, object]:
    if message.images and message.role != "user":
        raise UnsupportedFeature(
            f"Cohere takes images in user messages only, not in {message.role} messages",
            provider=provider,
        )
    match message.role:
        case "user":
            return {"role": "user", "content": _user_content(message)}
        case "assistant":
            return _assistant(message)
        case "tool":
            return {
                "role": "tool",
                "tool_call_id": message.tool_call_id,
                # A plain string must be a JSON document; a text block takes any text.
                "content": [{"type": "text", "text": message.text}],
            }
        case _:
            return {"role": message.role, "content": message.text}


def _user_content(message: ChatMessage) -> str | list[dict[str, object]]:
    if isinstance(message.content, str):
        return message.content
    return [content_part(p) for p in message.content]


def _assistant(message: ChatMessage) -> dict[str, object]:
    if not message.tool_calls:
        return {"role": "assistant", "content": message.text}
    out: dict[str, object] = {
        "role": "assistant",
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": json_body.dumps(call.arguments).decode(),
                },
            }
            for call in message.tool_calls
        ],
    }
    if message.text:
        out["tool_plan"] = message.text
    return out
