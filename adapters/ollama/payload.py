"""Our chat request as an Ollama ``/api/chat`` request body, non-streaming (``stream``
false: Ollama's default is to stream; the streaming call sets it true).

Images go as base64 in a message's ``images``; tools take OpenAI's function shape,
and a tool call is sent without an id (Ollama has none), so a tool result names its
tool (``tool_name``), looked up from the assistant message that made the call.
Generation parameters go in ``options``.
"""

from __future__ import annotations

from adapters.base import ProviderRequest
from adapters.errors import UnsupportedFeature
from adapters.generation_fields import generation_fields
from adapters.openai.payload import function_tool
from schemas.chat import ChatMessage


def build_payload(request: ProviderRequest, *, provider: str) -> dict[str, object]:
    """The request body; options are sent only when set."""
    payload: dict[str, object] = {
        "model": request.upstream_model,
        "messages": _messages(request.messages, provider),
        "stream": False,
    }
    if request.tools and request.tool_choice != "none":
        payload["tools"] = [function_tool(t) for t in request.tools]
    response_format = request.response_format
    if response_format is not None and response_format.type != "text":
        payload["format"] = response_format.json_schema or "json"
    options = generation_fields(request.params, max_tokens="num_predict")
    if options:
        payload["options"] = options
    return payload


def _messages(messages: list[ChatMessage], provider: str) -> list[dict[str, object]]:
    tool_names: dict[str, str] = {}
    out: list[dict[str, object]] = []
    for message in messages:
        item: dict[str, object] = {"role": message.role, "content": message.text}
        if message.images:
            if any(image.data is None for image in message.images):
                raise UnsupportedFeature("Ollama takes images as base64 only", provider=provider)
            item["images"] = [image.data for image in message.images]
        if message.tool_calls:
            item["tool_calls"] = [
                {"function": {"name": c.name, "arguments": c.arguments}} for c in message.tool_calls
            ]
            # A later call with a reused id names the newer tool, as the dialogue would.
            tool_names.update((c.id, c.name) for c in message.tool_calls)
        if message.tool_call_id is not None and message.tool_call_id in tool_names:
            item["tool_name"] = tool_names[message.tool_call_id]
        out.append(item)
    return out
