"""Checking an Anthropic Messages request body and reducing it to a ChatCall.

Text and image blocks, ``tool_use`` / ``tool_result`` blocks, tools with
``tool_choice``, and structured output (``output_config.format``) are validated the
way Anthropic does; ``"stream": true`` asks for the streamed reply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from emulator.base import ChatCall, ToolDef
from emulator.fields import (
    FieldError,
    SeenContent,
    optional_count,
    reject_unknown,
    required_list,
    required_string,
    string_list,
)

# The request fields of Anthropic's Messages API (anthropic SDK 2.12, which has no
# sampling parameters); anything else is rejected as Anthropic does ("Extra inputs
# are not permitted"), which catches adapters sending invented parameters.
_ALLOWED = frozenset(
    {
        "model", "messages", "max_tokens", "system", "stop_sequences", "metadata", "stream",
        "service_tier", "thinking", "tools", "tool_choice", "output_config", "cache_control",
        "container", "inference_geo", "speed", "diagnostics",
    }
)  # fmt: skip
# The installed SDK's MessageParam includes a system role in ``messages``; the
# top-level ``system`` field remains the portable form, which adapters send.
_ROLES = frozenset({"user", "assistant", "system"})
_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_TOOL_FIELDS = frozenset(
    {
        "name", "description", "input_schema", "type", "cache_control", "strict",
        "input_examples", "allowed_callers", "defer_loading", "eager_input_streaming",
    }
)  # fmt: skip
_TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
# Anthropic's (pydantic's) wording for a missing and an unknown field.
_REQUIRED = "Field required"
_EXTRA = "Extra inputs are not permitted"


def parse_request(body: Mapping[str, object]) -> ChatCall:
    """The call ``body`` asks for; raises :class:`FieldError` where Anthropic would refuse it."""
    reject_unknown(body, _ALLOWED, _EXTRA)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise FieldError("stream", "Input should be a valid boolean")
    model = required_string(body, "model", _REQUIRED)
    max_tokens = optional_count(body, "max_tokens")
    if max_tokens is None:
        raise FieldError("max_tokens", _REQUIRED)
    messages = required_list(body, "messages", _REQUIRED)
    seen = SeenContent()
    system = body.get("system")
    if system is not None:
        _content(system, "system", seen, allow_images=False)
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise FieldError(
                f"messages.{i}.role", "Input should be 'user', 'assistant' or 'system'"
            )
        seen.next_message()
        _content(message.get("content"), f"messages.{i}.content", seen, allow_images=True)
    tools = _tools(body.get("tools"))
    json_schema = _output_schema(body.get("output_config"))
    return ChatCall(
        model=model,
        prompt=seen.last_text,
        prompt_tokens=seen.prompt_tokens,
        max_tokens=max_tokens,
        stop=string_list(
            body.get("stop_sequences"),
            "stop_sequences",
            "Input should be a valid list of strings",
        ),
        tools=tools,
        tool_choice=_tool_choice(body.get("tool_choice"), tools),
        json_schema=json_schema,
        images=seen.images,
        answering_tool=seen.answering_tool,
        stream=stream,
    )


def _content(value: object, path: str, seen: SeenContent, *, allow_images: bool) -> None:
    if isinstance(value, str):
        seen.add_text(value)
        return
    if not isinstance(value, list) or not value:
        raise FieldError(path, "Input should be a valid string or a non-empty list of blocks")
    for i, block in enumerate(value):
        _block(block, f"{path}.{i}", seen, allow_images=allow_images)


def _block(block: object, path: str, seen: SeenContent, *, allow_images: bool) -> None:
    kind = block.get("type") if isinstance(block, dict) else None
    if not isinstance(block, dict) or kind is None:
        raise FieldError(f"{path}.type", _REQUIRED)
    if kind == "text":
        seen.add_text(_string(block, "text", path))
    elif kind == "image" and allow_images:
        _image_source(block.get("source"), f"{path}.source")
        seen.images += 1
    elif kind == "tool_use":
        _string(block, "id", path)
        _string(block, "name", path)
        if not isinstance(block.get("input"), dict):
            raise FieldError(f"{path}.input", "Input should be a valid dictionary")
        seen.add_unechoed(orjson.dumps(block["input"]).decode())
    elif kind == "tool_result":
        _string(block, "tool_use_id", path)
        content = block.get("content")
        if content is not None:
            _content(content, f"{path}.content", seen, allow_images=True)
        seen.answering_tool = True
    else:
        raise FieldError(f"{path}.type", f"block type {kind!r} is not emulated")


def _image_source(source: object, path: str) -> None:
    if not isinstance(source, dict):
        raise FieldError(path, _REQUIRED)
    if source.get("type") == "base64":
        if source.get("media_type") not in _MEDIA_TYPES:
            raise FieldError(f"{path}.media_type", f"Input should be one of {sorted(_MEDIA_TYPES)}")
        _string(source, "data", path)
    elif source.get("type") == "url":
        url = _string(source, "url", path)
        if not url.startswith(("http://", "https://")):
            raise FieldError(f"{path}.url", "Input should be an http(s) URL")
    else:
        raise FieldError(f"{path}.type", "Input should be 'base64' or 'url'")


def _tools(value: object) -> tuple[ToolDef, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise FieldError("tools", "Input should be a valid list")
    tools: list[ToolDef] = []
    for i, tool in enumerate(value):
        if not isinstance(tool, dict):
            raise FieldError(f"tools.{i}", "Input should be a valid dictionary")
        reject_unknown(tool, _TOOL_FIELDS, _EXTRA, at=f"tools.{i}")
        name = _string(tool, "name", f"tools.{i}")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise FieldError(f"tools.{i}.input_schema", "Input should be an object schema")
        tools.append(ToolDef(name, schema))
    return tuple(tools)


def _tool_choice(value: object, tools: tuple[ToolDef, ...]) -> str:
    if value is None:
        return "auto"
    kind = value.get("type") if isinstance(value, dict) else None
    if not tools and kind != "none":
        raise FieldError("tool_choice", "tool_choice may only be specified while providing tools")
    if kind in _TOOL_CHOICES:
        return _TOOL_CHOICES[str(kind)]
    if kind == "tool" and isinstance(value, dict):
        name = _string(value, "name", "tool_choice")
        if name not in {t.name for t in tools}:
            raise FieldError("tool_choice.name", f"no tool named {name!r}")
        return name
    raise FieldError("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'")


def _output_schema(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    output_format = value.get("format") if isinstance(value, dict) else None
    if output_format is None:
        return None
    if not isinstance(output_format, dict) or output_format.get("type") != "json_schema":
        raise FieldError("output_config.format.type", "Input should be 'json_schema'")
    schema = output_format.get("schema")
    if not isinstance(schema, dict):
        raise FieldError("output_config.format.schema", _REQUIRED)
    return schema


def _string(obj: Mapping[str, object], name: str, path: str) -> str:
    return required_string(obj, name, "Input should be a valid string", at=path)
