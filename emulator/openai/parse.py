"""Checking an OpenAI Chat Completions request body and reducing it to a ChatCall.

Messages (system, developer, user with text and ``image_url`` parts, assistant with
``tool_calls``, ``tool`` results), tools, ``tool_choice`` and ``response_format`` are
validated the way OpenAI does; fields it does not know are rejected, which catches
adapters sending misspelt or invented parameters. ``stream`` and ``stream_options``
(``include_usage``) choose the streamed form of the reply.
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
    unknown_fields,
)
from emulator.generate import estimate_tokens

_ALLOWED = frozenset(
    {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p",
        "stop", "n", "user", "seed", "presence_penalty", "frequency_penalty", "metadata",
        "store", "response_format", "logit_bias", "logprobs", "top_logprobs", "service_tier",
        "stream", "stream_options", "tools", "tool_choice", "parallel_tool_calls",
    }
)  # fmt: skip
_TOOL_FIELDS = frozenset({"tools", "tool_choice", "parallel_tool_calls"})
_FUNCTION_FIELDS = frozenset({"name", "description", "parameters", "strict"})
_SCHEMA_FIELDS = frozenset({"name", "description", "schema", "strict"})
_STREAM_OPTIONS = frozenset({"include_usage", "include_obfuscation"})
_UNRECOGNIZED = "Unrecognized argument"
_NON_EMPTY = "Input should be a non-empty array"
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_MAX_STOP = 4
# What OpenAI bills a low-detail image; the emulator does not look at pixels.
IMAGE_TOKENS = 85


def parse_request(body: Mapping[str, object], *, model: str | None, tools: bool) -> ChatCall:
    """``model`` comes from the path where the dialect puts it there (Azure); ``tools``
    says whether the dialect has tool calling at all."""
    allowed = _ALLOWED if tools else _ALLOWED - _TOOL_FIELDS
    reject_unknown(body, allowed, "Unrecognized request argument supplied")
    stream, stream_usage = _streaming(body)
    model = model or required_string(body, "model", "you must provide a model parameter")
    messages = required_list(body, "messages", _NON_EMPTY)
    texts: list[str] = []
    images = 0
    for i, message in enumerate(messages):
        text, count = _message(message, f"messages[{i}]")
        texts.append(text)
        images += count
    optional_number(body, "temperature", 0.0, 2.0)
    optional_number(body, "top_p", 0.0, 1.0)
    max_tokens = optional_count(body, "max_completion_tokens") or optional_count(body, "max_tokens")
    defined = _tools(body.get("tools"))
    json_mode, json_schema = _response_format(body.get("response_format"))
    return ChatCall(
        model=model,
        prompt=texts[-1],
        prompt_tokens=sum(estimate_tokens(t) for t in texts) + images * IMAGE_TOKENS,
        max_tokens=max_tokens,
        stop=_stop(body.get("stop")),
        tools=defined,
        tool_choice=_tool_choice(body.get("tool_choice"), defined),
        json_mode=json_mode,
        json_schema=json_schema,
        images=images,
        answering_tool=isinstance(messages[-1], dict) and messages[-1].get("role") == "tool",
        stream=stream,
        stream_usage=stream_usage,
    )


def _streaming(body: Mapping[str, object]) -> tuple[bool, bool]:
    """``stream``, and whether ``stream_options.include_usage`` asks for a usage chunk."""
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise FieldError("stream", "Input should be a valid boolean")
    options = body.get("stream_options")
    if options is None:
        return bool(stream), False
    if not stream:
        raise FieldError(
            "stream_options", "The 'stream_options' parameter is only allowed when 'stream' "
            "is enabled.",
        )  # fmt: skip
    if not isinstance(options, dict):
        raise FieldError("stream_options", "Input should be an object")
    reject_unknown(options, _STREAM_OPTIONS, _UNRECOGNIZED, at="stream_options")
    for name in sorted(options):
        if not isinstance(options[name], bool):
            raise FieldError(f"stream_options.{name}", "Input should be a valid boolean")
    return True, options.get("include_usage") is True


def _message(message: object, path: str) -> tuple[str, int]:
    """The message's text (tool calls included, as the model reads them) and images."""
    if not isinstance(message, dict) or message.get("role") not in _ROLES:
        raise FieldError(f"{path}.role", f"must be one of {sorted(_ROLES)}")
    role = message["role"]
    allowed = {"role", "content", "name"} | {
        "assistant": {"tool_calls", "refusal"},
        "tool": {"tool_call_id"},
    }.get(role, set())
    reject_unknown(message, frozenset(allowed), _UNRECOGNIZED, at=path)
    content = message.get("content")
    if role == "assistant":
        calls = _assistant_calls(message.get("tool_calls"), f"{path}.tool_calls")
        if content is None and calls:
            return calls, 0
        text, _ = _content(content, f"{path}.content", images=False)
        return text + calls, 0
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise FieldError(f"{path}.tool_call_id", "Field required")
    return _content(content, f"{path}.content", images=role == "user")


def _content(value: object, path: str, *, images: bool) -> tuple[str, int]:
    if isinstance(value, str):
        return value, 0
    if not isinstance(value, list):
        raise FieldError(path, "Input should be a valid string or array of content parts")
    parts: list[str] = []
    count = 0
    for i, part in enumerate(value):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append(part["text"])
        elif kind == "image_url" and images and isinstance(part, dict):
            _image_url(part.get("image_url"), f"{path}[{i}].image_url")
            count += 1
        else:
            allowed = "'text' or 'image_url'" if images else "'text'"
            raise FieldError(f"{path}[{i}]", f"content part type should be {allowed}")
    return "".join(parts), count


def _image_url(value: object, path: str) -> None:
    url = value.get("url") if isinstance(value, dict) else None
    if not isinstance(url, str) or not url.startswith(("data:image/", "https://", "http://")):
        raise FieldError(f"{path}.url", "Expected a base64-encoded data URL or an image URL")
    if isinstance(value, dict) and unknown_fields(value, frozenset({"url", "detail"})):
        raise FieldError(path, _UNRECOGNIZED)


def _assistant_calls(value: object, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, list) or not value:
        raise FieldError(path, _NON_EMPTY)
    texts: list[str] = []
    for i, call in enumerate(value):
        function = call.get("function") if isinstance(call, dict) else None
        if (
            not isinstance(call, dict)
            or not isinstance(call.get("id"), str)
            or call.get("type") != "function"
            or not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
            # OpenAI takes arguments as a JSON-encoded string, never as an object.
            or not isinstance(function.get("arguments"), str)
        ):
            raise FieldError(
                f"{path}[{i}]", "expected {id, type: 'function', function: {name, arguments}}"
            )
        texts.append(function["name"] + function["arguments"])
    return "".join(texts)


def _tools(value: object) -> tuple[ToolDef, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise FieldError("tools", _NON_EMPTY)
    defined: list[ToolDef] = []
    for i, tool in enumerate(value):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise FieldError(f"tools[{i}].type", "Input should be 'function'")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise FieldError(f"tools[{i}].function.name", "Field required")
        reject_unknown(function, _FUNCTION_FIELDS, _UNRECOGNIZED, at=f"tools[{i}].function")
        parameters = function.get("parameters", {})
        if not isinstance(parameters, dict):
            raise FieldError(f"tools[{i}].function.parameters", "Input should be an object")
        defined.append(ToolDef(function["name"], parameters))
    return tuple(defined)


def _tool_choice(value: object, tools: tuple[ToolDef, ...]) -> str:
    if value is None:
        return "auto"
    if not tools:
        raise FieldError("tool_choice", "is only allowed when 'tools' are specified")
    if value in ("auto", "none", "required"):
        return str(value)
    function = value.get("function") if isinstance(value, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if isinstance(name, str) and name in {t.name for t in tools}:
        return name
    raise FieldError("tool_choice", "Input should be 'auto', 'none', 'required' or a named tool")


def _response_format(value: object) -> tuple[bool, dict[str, Any] | None]:
    if value is None:
        return False, None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return False, None
    if kind == "json_object":
        return True, None
    if kind == "json_schema" and isinstance(value, dict):
        spec = value.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise FieldError("response_format.json_schema.name", "Field required")
        reject_unknown(spec, _SCHEMA_FIELDS, _UNRECOGNIZED, at="response_format.json_schema")
        schema = spec.get("schema", {})
        if not isinstance(schema, dict):
            raise FieldError("response_format.json_schema.schema", "Input should be an object")
        return True, schema
    raise FieldError("response_format.type", "must be 'text', 'json_object' or 'json_schema'")


def _stop(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    problem = f"Input should be a string or an array of up to {_MAX_STOP} strings"
    return string_list(value, "stop", problem, max_items=_MAX_STOP)
