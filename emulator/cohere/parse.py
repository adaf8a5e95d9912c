"""Checking a Cohere Chat v2 request body and reducing it to a ChatCall.

The fields are the cohere SDK's ``ClientV2.chat`` parameters; anything else is
rejected, which catches adapters sending OpenAI-style names (``top_p``, ``stop``).
Messages are checked per role the way the SDK's ``ChatMessageV2`` union defines them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emulator.base import ChatCall, ToolDef
from emulator.fields import (
    FieldError,
    optional_count,
    optional_number,
    reject_unknown,
    required_list,
    required_string,
    string_list,
    text_content,
    unknown_fields,
)
from emulator.generate import estimate_tokens

_ALLOWED = frozenset(
    {
        "model", "messages", "tools", "strict_tools", "documents", "citation_options",
        "response_format", "safety_mode", "max_tokens", "stop_sequences", "temperature", "seed",
        "frequency_penalty", "presence_penalty", "k", "p", "logprobs", "tool_choice",
        "thinking", "priority", "stream",
    }
)  # fmt: skip
_MESSAGE_FIELDS = {
    "system": frozenset({"role", "content"}),
    "user": frozenset({"role", "content"}),
    "assistant": frozenset({"role", "content", "tool_calls", "tool_plan", "citations"}),
    "tool": frozenset({"role", "tool_call_id", "content"}),
}
_FUNCTION_FIELDS = frozenset({"name", "description", "parameters"})
_INVALID_FIELD = "is not a valid field"
_MAX_STOP = 5
_TOOL_CHOICES = {"REQUIRED": "required", "NONE": "none"}
# Cohere does not publish a per-image token price; a flat estimate keeps counts honest.
IMAGE_TOKENS = 256


def parse_request(body: Mapping[str, object]) -> ChatCall:
    reject_unknown(body, _ALLOWED, _INVALID_FIELD)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise FieldError("stream", "must be a boolean")
    model = required_string(body, "model", "model is required")
    messages = required_list(body, "messages", "messages must not be empty")
    texts: list[str] = []
    images = 0
    for i, message in enumerate(messages):
        text, count = _message(message, f"messages[{i}]")
        texts.append(text)
        images += count
    optional_number(body, "temperature", 0.0, 5.0)
    optional_number(body, "p", 0.01, 0.99)
    tools = _tools(body.get("tools"))
    json_mode, json_schema = _response_format(body.get("response_format"))
    if json_mode and tools:
        raise FieldError("response_format", "response_format is not supported with tools")
    return ChatCall(
        model=model,
        prompt=texts[-1],
        prompt_tokens=sum(estimate_tokens(t) for t in texts) + images * IMAGE_TOKENS,
        max_tokens=optional_count(body, "max_tokens"),
        stop=string_list(
            body.get("stop_sequences"),
            "stop_sequences",
            f"must be a list of up to {_MAX_STOP} strings",
            max_items=_MAX_STOP,
        ),
        tools=tools,
        tool_choice=_tool_choice(body.get("tool_choice"), tools),
        json_mode=json_mode,
        json_schema=json_schema,
        images=images,
        answering_tool=isinstance(messages[-1], dict) and messages[-1].get("role") == "tool",
        stream=stream,
    )


def _message(message: object, path: str) -> tuple[str, int]:
    role = message.get("role") if isinstance(message, dict) else None
    if not isinstance(message, dict) or not isinstance(role, str) or role not in _MESSAGE_FIELDS:
        raise FieldError(f"{path}.role", "role must be one of system, user, assistant, tool")
    reject_unknown(message, _MESSAGE_FIELDS[role], _INVALID_FIELD, at=path)
    content = message.get("content")
    if role == "user":
        return _user_content(content, f"{path}.content")
    if role == "assistant":
        calls = _tool_calls(message.get("tool_calls"), f"{path}.tool_calls")
        plan = message.get("tool_plan")
        if plan is not None and not isinstance(plan, str):
            raise FieldError(f"{path}.tool_plan", "must be a string")
        if content is None and not calls:
            raise FieldError(path, "assistant message must have content or tool_calls")
        text = "" if content is None else text_content(content, f"{path}.content")
        return text + (plan or "") + calls, 0
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise FieldError(f"{path}.tool_call_id", "tool_call_id is required")
    return text_content(content, f"{path}.content"), 0


def _user_content(value: object, path: str) -> tuple[str, int]:
    if isinstance(value, str):
        return value, 0
    if not isinstance(value, list) or not value:
        raise FieldError(path, "content must be a string or a non-empty list of content blocks")
    parts: list[str] = []
    images = 0
    for i, part in enumerate(value):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append(part["text"])
        elif kind == "image_url" and isinstance(part, dict):
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else None
            # The SDK's ImageUrl: a base64 data URI or a web URL.
            if not isinstance(url, str) or not url.startswith(
                ("data:image/", "https://", "http://")
            ):
                raise FieldError(f"{path}[{i}].image_url.url", "must be a data URI or a web URL")
            images += 1
        else:
            raise FieldError(f"{path}[{i}].type", "type must be one of text, image_url")
    return "".join(parts), images


def _tool_calls(value: object, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, list):
        raise FieldError(path, "must be a list")
    texts: list[str] = []
    for i, call in enumerate(value):
        function = call.get("function") if isinstance(call, dict) else None
        if (
            not isinstance(call, dict)
            or not isinstance(call.get("id"), str)
            or call.get("type", "function") != "function"
            or not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
            # A JSON document as a string, as the SDK's ToolCallV2Function types it.
            or not isinstance(function.get("arguments"), str)
        ):
            raise FieldError(
                f"{path}[{i}]", "expected {id, type: function, function: {name, arguments}}"
            )
        texts.append(function["name"] + function["arguments"])
    return "".join(texts)


def _tools(value: object) -> tuple[ToolDef, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise FieldError("tools", "must be a list")
    defined: list[ToolDef] = []
    for i, tool in enumerate(value):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise FieldError(f"tools[{i}].type", "type must be function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise FieldError(f"tools[{i}].function.name", "name is required")
        reject_unknown(function, _FUNCTION_FIELDS, _INVALID_FIELD, at=f"tools[{i}].function")
        parameters = function.get("parameters")
        if not isinstance(parameters, dict):
            raise FieldError(f"tools[{i}].function.parameters", "parameters is required")
        defined.append(ToolDef(function["name"], parameters))
    return tuple(defined)


def _tool_choice(value: object, tools: tuple[ToolDef, ...]) -> str:
    if value is None:
        return "auto"
    if not isinstance(value, str) or value not in _TOOL_CHOICES:
        raise FieldError("tool_choice", "tool_choice must be one of REQUIRED, NONE")
    if not tools:
        raise FieldError("tool_choice", "tool_choice requires tools to be specified")
    return _TOOL_CHOICES[value]


def _response_format(value: object) -> tuple[bool, dict[str, Any] | None]:
    if value is None:
        return False, None
    kind = value.get("type") if isinstance(value, dict) else None
    if (
        kind == "text"
        and isinstance(value, dict)
        and not unknown_fields(value, frozenset({"type"}))
    ):
        return False, None
    if kind != "json_object" or not isinstance(value, dict):
        raise FieldError("response_format.type", "type must be one of text, json_object")
    reject_unknown(value, frozenset({"type", "json_schema"}), _INVALID_FIELD, at="response_format")
    schema = value.get("json_schema")
    if schema is not None and not isinstance(schema, dict):
        raise FieldError("response_format.json_schema", "must be an object")
    return True, schema
