"""Our chat request as an Anthropic Messages request body.

System messages move to the top-level ``system`` field; images become ``image`` blocks
with a ``base64`` or ``url`` source; assistant tool calls become ``tool_use`` blocks and
our role ``tool`` messages become ``tool_result`` blocks in a user turn, consecutive
results sharing one turn as the API expects after a multi-call assistant turn.
"""

from __future__ import annotations

from adapters.base import ProviderRequest
from schemas.chat import ChatMessage, ImagePart, TextPart, ToolChoice

# Anthropic requires max_tokens; this applies when the caller left it unset.
DEFAULT_MAX_TOKENS = 1024

_TOOL_CHOICE: dict[ToolChoice, str] = {"auto": "auto", "required": "any", "none": "none"}

Block = dict[str, object]


def build_payload(request: ProviderRequest) -> dict[str, object]:
    """The request body; optional parameters are sent only when set.

    Every system message is joined, in order, into ``system``: that loses where a
    mid-dialogue system message sat, which the API cannot express anyway.
    """
    system = [m.text for m in request.messages if m.role == "system"]
    params = request.params
    payload: dict[str, object] = {
        "model": request.upstream_model,
        "max_tokens": params.max_tokens if params.max_tokens is not None else DEFAULT_MAX_TOKENS,
        "messages": _messages(request.messages),
    }
    if system:
        payload["system"] = "\n\n".join(system)
    if params.stop:
        payload["stop_sequences"] = list(params.stop)
    if request.tools:
        payload["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            if t.description
            else {"name": t.name, "input_schema": t.parameters}
            for t in request.tools
        ]
        payload["tool_choice"] = {"type": _TOOL_CHOICE[request.tool_choice]}
    response_format = request.response_format
    if response_format is not None and response_format.json_schema is not None:
        # Structured outputs take a schema only; json_object has no schema-free form
        # here, so it is not among the adapter's capabilities.
        payload["output_config"] = {
            "format": {"type": "json_schema", "schema": response_format.json_schema}
        }
    return payload


def _messages(messages: list[ChatMessage]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    pending_results: list[Block] = []
    for message in messages:
        if message.role == "tool":
            pending_results.append(_tool_result(message))
            continue
        if pending_results:
            out.append({"role": "user", "content": pending_results})
            pending_results = []
        if message.role == "system":
            continue
        if message.tool_calls:
            blocks = _content_blocks(message) if message.content else []
            blocks += [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                for c in message.tool_calls
            ]
            out.append({"role": message.role, "content": blocks})
        elif isinstance(message.content, str):
            out.append({"role": message.role, "content": message.content})
        else:
            out.append({"role": message.role, "content": _content_blocks(message)})
    if pending_results:
        out.append({"role": "user", "content": pending_results})
    return out


def _tool_result(message: ChatMessage) -> Block:
    content: object = (
        message.content if isinstance(message.content, str) else _content_blocks(message)
    )
    return {"type": "tool_result", "tool_use_id": message.tool_call_id, "content": content}


def _content_blocks(message: ChatMessage) -> list[Block]:
    if isinstance(message.content, str):
        return [{"type": "text", "text": message.content}]
    return [_block(part) for part in message.content]


def _block(part: TextPart | ImagePart) -> Block:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if part.url is not None:
        return {"type": "image", "source": {"type": "url", "url": str(part.url)}}
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": part.media_type, "data": part.data},
    }
