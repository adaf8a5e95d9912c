"""Our chat request as a Bedrock Converse request body, and the path it is sent to.

System messages move to the top-level ``system`` list; images become ``image`` blocks
carrying base64 bytes (Converse takes no image URLs); assistant tool calls become
``toolUse`` blocks and our role ``tool`` messages become ``toolResult`` blocks in a user
turn. Converse wants user and assistant turns to alternate, so consecutive messages of
one role (several tool results, or results followed by the user's next words) share a
turn.
"""

from __future__ import annotations

from urllib.parse import quote

from adapters import json_body
from adapters.base import ProviderRequest
from adapters.generation_fields import generation_fields
from schemas.chat import ChatMessage, ImagePart, TextPart

Block = dict[str, object]
Turn = dict[str, object]

# Characters RFC 3986 allows raw in a path segment besides the unreserved ones. They are
# left unencoded so that no HTTP stack rewrites the path after it was signed: aiohttp's
# URL type, for one, decodes "%3A" back to ":", and the signature covers the path.
_PATH_SAFE = "-._~!$&'()*+,;=:@"


def converse_path(model_id: str, *, stream: bool = False) -> str:
    """``/model/{modelId}/converse`` (``/converse-stream`` for ConverseStream, which takes
    the same body); a "/" in an ARN model id is percent-encoded."""
    operation = "converse-stream" if stream else "converse"
    return f"/model/{quote(model_id, safe=_PATH_SAFE)}/{operation}"


def build_body(request: ProviderRequest) -> bytes:
    """The serialized body: the bytes that are signed are the bytes that are sent."""
    return json_body.dumps(build_payload(request))


def build_payload(request: ProviderRequest) -> dict[str, object]:
    """The request body; optional parameters are sent only when set.

    The model id travels in the path, not the body. ``tool_choice`` "none" has no
    Converse form: with no tool blocks in the conversation the tools are left out, which
    is exactly "none"; with them, Converse requires ``toolConfig``, so the tools are
    sent without a ``toolChoice`` and the model may still call one.
    """
    payload: dict[str, object] = {"messages": _turns(request.messages)}
    system = [{"text": m.text} for m in request.messages if m.role == "system"]
    if system:
        payload["system"] = system
    inference = generation_fields(
        request.params, max_tokens="maxTokens", top_p="topP", stop="stopSequences"
    )
    if inference:
        payload["inferenceConfig"] = inference
    if request.tools and (request.tool_choice != "none" or _has_tool_blocks(request.messages)):
        payload["toolConfig"] = _tool_config(request)
    response_format = request.response_format
    if response_format is not None and response_format.json_schema is not None:
        # Converse takes the schema as a JSON string, not as a nested document.
        payload["outputConfig"] = {
            "textFormat": {
                "type": "json_schema",
                "structure": {
                    "jsonSchema": {
                        "schema": json_body.dumps(response_format.json_schema).decode(),
                        "name": response_format.name,
                    }
                },
            }
        }
    return payload


def _tool_config(request: ProviderRequest) -> dict[str, object]:
    tools: list[Block] = []
    for tool in request.tools:
        spec: Block = {"name": tool.name, "inputSchema": {"json": tool.parameters}}
        # Converse rejects an empty description (it must be non-empty when present).
        if tool.description:
            spec["description"] = tool.description
        tools.append({"toolSpec": spec})
    config: dict[str, object] = {"tools": tools}
    if request.tool_choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif request.tool_choice == "required":
        config["toolChoice"] = {"any": {}}
    return config


def _has_tool_blocks(messages: list[ChatMessage]) -> bool:
    return any(m.role == "tool" or m.tool_calls for m in messages)


def _turns(messages: list[ChatMessage]) -> list[Turn]:
    turns: list[tuple[str, list[Block]]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(_blocks(message))
        else:
            turns.append((role, _blocks(message)))
    return [{"role": role, "content": blocks} for role, blocks in turns]


def _blocks(message: ChatMessage) -> list[Block]:
    if message.role == "tool":
        return [
            {
                "toolResult": {
                    "toolUseId": message.tool_call_id,
                    # No "status": only some Bedrock models accept it, and we do not
                    # know whether the tool failed.
                    "content": _content_blocks(message),
                }
            }
        ]
    blocks = _content_blocks(message)
    blocks += [
        {"toolUse": {"toolUseId": c.id, "name": c.name, "input": c.arguments}}
        for c in message.tool_calls
    ]
    return blocks


def _content_blocks(message: ChatMessage) -> list[Block]:
    if isinstance(message.content, str):
        # An assistant turn that only calls tools has no text, and Converse rejects
        # blank text blocks.
        return [{"text": message.content}] if message.content else []
    return [_block(part) for part in message.content]


def _block(part: TextPart | ImagePart) -> Block:
    if isinstance(part, TextPart):
        return {"text": part.text}
    # Capabilities exclude image URLs, so the image is inline; Converse's JSON carries
    # blob members as base64, which is what ``data`` already is.
    return {
        "image": {
            "format": part.media_type.removeprefix("image/"),
            "source": {"bytes": part.data},
        }
    }
