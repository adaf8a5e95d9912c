"""Our request as an OpenAI Chat Completions body, shaped by a service's preset.

Images become ``image_url`` parts (a ``data:`` URL when inline), tool calls carry their
arguments as a JSON string, and tool results are ``tool`` messages answering a
``tool_call_id``. Cohere and Ollama take tools (and Cohere content parts) in this same
shape: :func:`function_tool` and :func:`content_part` serve them too. A ``json_schema``
response format is sent with ``strict: true``: the
gateway promises JSON valid against the schema, so a schema the provider cannot enforce
should fail loudly rather than come back unchecked.
"""

from __future__ import annotations

import hashlib
import re

from adapters import json_body
from adapters.base import ProviderRequest
from adapters.errors import UnsupportedFeature
from adapters.generation_fields import generation_fields
from adapters.openai.presets import PRESETS, Preset
from schemas.chat import ChatMessage, ImagePart, ResponseFormat, TextPart, ToolCall, ToolSpec

_MISTRAL_ID = re.compile(r"^[A-Za-z0-9]{9}$")


def build_payload(
    request: ProviderRequest, preset: Preset = PRESETS["openai"], *, provider: str = "openai"
) -> dict[str, object]:
    """The request body; optional parameters are sent only when set."""
    payload: dict[str, object] = {}
    if not preset.deployment_in_path:
        payload["model"] = request.upstream_model
    payload["messages"] = [_message(m, preset, provider) for m in request.messages]
    payload |= generation_fields(request.params, max_tokens=preset.max_tokens_field)
    # Where the server has no tool_choice, offering no tools is how "none" is said.
    if request.tools and (request.tool_choice != "none" or preset.takes_tool_choice):
        payload["tools"] = [function_tool(t) for t in request.tools]
        # "auto" is every server's default once tools are given.
        if request.tool_choice != "auto":
            payload["tool_choice"] = request.tool_choice
    if request.response_format is not None and request.response_format.type != "text":
        payload["response_format"] = _response_format(request.response_format)
    return payload


def _message(message: ChatMessage, preset: Preset, provider: str) -> dict[str, object]:
    if message.role in ("assistant", "tool", "system") and message.images:
        # Chat Completions takes images in user messages only.
        raise UnsupportedFeature(
            f"images in a {message.role} message cannot be sent", provider=provider
        )
    match message.role:
        case "user":
            return {"role": "user", "content": _user_content(message.content)}
        case "assistant":
            out: dict[str, object] = {"role": "assistant"}
            if message.text:
                out["content"] = message.text
            if message.tool_calls:
                out["tool_calls"] = [_tool_call(c, preset) for c in message.tool_calls]
            return out
        case "tool":
            assert message.tool_call_id is not None  # ChatMessage requires it for role tool
            return {
                "role": "tool",
                "tool_call_id": _call_id(message.tool_call_id, preset),
                "content": message.text,
            }
        case _:
            return {"role": "system", "content": message.text}


def _user_content(content: str | list[TextPart | ImagePart]) -> object:
    if isinstance(content, str):
        return content
    return [content_part(part) for part in content]


def content_part(part: TextPart | ImagePart) -> dict[str, object]:
    """A ``text`` or ``image_url`` part; an inline image goes as a ``data:`` URL."""
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    url = str(part.url) if part.url is not None else f"data:{part.media_type};base64,{part.data}"
    return {"type": "image_url", "image_url": {"url": url}}


def _tool_call(call: ToolCall, preset: Preset) -> dict[str, object]:
    return {
        "id": _call_id(call.id, preset),
        "type": "function",
        "function": {"name": call.name, "arguments": json_body.dumps(call.arguments).decode()},
    }


def _call_id(call_id: str, preset: Preset) -> str:
    """The id as the service accepts it; the same input always maps to the same id, so a
    call and its result still match after mapping."""
    if not preset.short_tool_call_ids or _MISTRAL_ID.match(call_id):
        return call_id
    return hashlib.sha256(call_id.encode()).hexdigest()[:9]


def function_tool(tool: ToolSpec) -> dict[str, object]:
    function: dict[str, object] = {"name": tool.name, "parameters": tool.parameters}
    if tool.description:
        function["description"] = tool.description
    return {"type": "function", "function": function}


def _response_format(fmt: ResponseFormat) -> dict[str, object]:
    if fmt.type == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": fmt.name, "schema": fmt.json_schema, "strict": True},
        }
    return {"type": fmt.type}
