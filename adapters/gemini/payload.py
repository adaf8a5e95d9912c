"""Our chat request as a Gemini ``generateContent`` request body.

Gemini has two roles, ``user`` and ``model``: assistant turns become ``model``
contents and system messages join into ``systemInstruction``. Images travel inline
(``inlineData``). Tool calls are ``functionCall`` parts and our role ``tool`` messages
``functionResponse`` parts, which Gemini matches to calls by function name (and by
``id`` where the model gave one), so each result is sent under the name of the call it
answers. Schemas go in the JSON Schema fields (``parametersJsonSchema``,
``responseJsonSchema``) rather than the OpenAPI-subset ``parameters`` /
``responseSchema``, which reject common JSON Schema keywords.
"""

from __future__ import annotations

from adapters.base import ProviderRequest
from adapters.errors import InvalidRequest, UnsupportedFeature
from adapters.generation_fields import generation_fields
from schemas.chat import ChatMessage, ImagePart, TextPart, ToolCall, ToolChoice

# Prefix of the tool call ids we make up when Gemini gives none; such ids are ours
# alone, so they are not sent back to Gemini.
GENERATED_ID_PREFIX = "gemini_call_"

_MODE: dict[ToolChoice, str] = {"auto": "AUTO", "required": "ANY", "none": "NONE"}

Part = dict[str, object]
Content = dict[str, object]


def build_payload(request: ProviderRequest, provider: str) -> dict[str, object]:
    """The request body; optional parameters are sent only when set.

    Raises :class:`InvalidRequest` for a tool result whose call is not in the
    conversation: Gemini needs the called function's name, which only the call has.
    """
    payload: dict[str, object] = {"contents": _contents(request.messages, provider)}
    system = [m.text for m in request.messages if m.role == "system"]
    if system:
        payload["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    if request.tools:
        declarations = [
            {"name": t.name, "description": t.description, "parametersJsonSchema": t.parameters}
            if t.description
            else {"name": t.name, "parametersJsonSchema": t.parameters}
            for t in request.tools
        ]
        payload["tools"] = [{"functionDeclarations": declarations}]
        payload["toolConfig"] = {"functionCallingConfig": {"mode": _MODE[request.tool_choice]}}
    config = _generation_config(request)
    if config:
        payload["generationConfig"] = config
    return payload


def _generation_config(request: ProviderRequest) -> dict[str, object]:
    config = generation_fields(
        request.params, max_tokens="maxOutputTokens", top_p="topP", stop="stopSequences"
    )
    response_format = request.response_format
    if response_format is not None and response_format.type != "text":
        config["responseMimeType"] = "application/json"
        if response_format.json_schema is not None:
            config["responseJsonSchema"] = response_format.json_schema
    return config


def _contents(messages: list[ChatMessage], provider: str) -> list[Content]:
    calls: dict[str, ToolCall] = {}
    contents: list[Content] = []
    # The parts of the content collecting a run of tool results, if one is open:
    # the results of one multi-call turn share one content, as Gemini expects.
    results: list[Part] | None = None
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            if results is None:
                results = []
                contents.append({"role": "user", "parts": results})
            results.append(_function_response(message, calls, provider))
            continue
        results = None
        parts = _message_parts(message)
        for call in message.tool_calls:
            calls[call.id] = call
            function_call: dict[str, object] = {"name": call.name, "args": call.arguments}
            if not call.id.startswith(GENERATED_ID_PREFIX):
                function_call["id"] = call.id
            parts.append({"functionCall": function_call})
        role = "model" if message.role == "assistant" else "user"
        contents.append({"role": role, "parts": parts})
    return contents


def _function_response(message: ChatMessage, calls: dict[str, ToolCall], provider: str) -> Part:
    if message.images:
        # functionResponse carries an object, not media, on the models we target.
        raise UnsupportedFeature(
            "images in a tool result are not supported by Gemini", provider=provider
        )
    call_id = message.tool_call_id or ""
    call = calls.get(call_id)
    if call is None:
        raise InvalidRequest(
            f"tool result {call_id!r} answers no tool call in the conversation",
            provider=provider,
        )
    # Gemini wants an object; "output" is the key its documentation uses for results.
    response: dict[str, object] = {"name": call.name, "response": {"output": message.text}}
    if not call_id.startswith(GENERATED_ID_PREFIX):
        response["id"] = call_id
    return {"functionResponse": response}


def _message_parts(message: ChatMessage) -> list[Part]:
    if isinstance(message.content, str):
        return [{"text": message.content}] if message.content else []
    return [_part(p) for p in message.content]


def _part(part: TextPart | ImagePart) -> Part:
    if isinstance(part, TextPart):
        return {"text": part.text}
    # Capabilities exclude image URLs, so every image here is inline.
    return {"inlineData": {"mimeType": part.media_type, "data": part.data}}
