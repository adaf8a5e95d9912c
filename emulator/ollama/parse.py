"""Checking an Ollama ``/api/chat`` request body and reducing it to a ChatCall.

The fields are the ollama package's ``ChatRequest``, ``Message`` and ``Options``. The
real server ignores fields it does not know; the emulator rejects them instead, which
catches adapters sending OpenAI-style names (``max_tokens``, ``response_format``).
"""

from __future__ import annotations

import binascii
from base64 import b64decode
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
)
from emulator.generate import estimate_tokens

_ALLOWED = frozenset(
    {
        "model", "messages", "tools", "think", "logprobs", "top_logprobs", "stream", "options",
        "format", "keep_alive",
    }
)  # fmt: skip
_MESSAGE_FIELDS = frozenset({"role", "content", "thinking", "images", "tool_name", "tool_calls"})
_ROLES = frozenset({"system", "user", "assistant", "tool"})
_OPTIONS = frozenset(
    {
        "numa", "num_ctx", "num_batch", "num_gpu", "main_gpu", "low_vram", "f16_kv",
        "logits_all", "vocab_only", "use_mmap", "use_mlock", "embedding_only", "num_thread",
        "num_keep", "seed", "num_predict", "top_k", "top_p", "tfs_z", "typical_p",
        "repeat_last_n", "temperature", "repeat_penalty", "presence_penalty",
        "frequency_penalty", "mirostat", "mirostat_tau", "mirostat_eta", "penalize_newline",
        "stop",
    }
)  # fmt: skip
_FUNCTION_FIELDS = frozenset({"name", "description", "parameters"})
_UNKNOWN = "unknown field"
# What a vision model's image encoder typically emits per image; pixels are not read.
IMAGE_TOKENS = 256


def parse_request(body: Mapping[str, object]) -> ChatCall:
    reject_unknown(body, _ALLOWED, _UNKNOWN)
    # Ollama streams unless told not to.
    stream = body.get("stream", True)
    if not isinstance(stream, bool):
        raise FieldError("stream", "stream must be a boolean")
    model = required_string(body, "model", "model is required")
    messages = required_list(body, "messages", "messages are required")
    texts: list[str] = []
    images = 0
    for i, message in enumerate(messages):
        text, count = _message(message, f"messages[{i}]")
        texts.append(text)
        images += count
    options = _options(body.get("options"))
    tools = _tools(body.get("tools"))
    json_mode, json_schema = _format(body.get("format"))
    return ChatCall(
        model=model,
        prompt=texts[-1],
        prompt_tokens=sum(estimate_tokens(t) for t in texts) + images * IMAGE_TOKENS,
        max_tokens=_num_predict(options),
        stop=string_list(options.get("stop"), "options.stop", "stop must be a list of strings"),
        tools=tools,
        json_mode=json_mode,
        json_schema=json_schema,
        images=images,
        answering_tool=isinstance(messages[-1], dict) and messages[-1].get("role") == "tool",
        stream=stream,
    )


def _message(message: object, path: str) -> tuple[str, int]:
    if not isinstance(message, dict) or message.get("role") not in _ROLES:
        raise FieldError(f"{path}.role", "role must be one of system, user, assistant, tool")
    reject_unknown(message, _MESSAGE_FIELDS, _UNKNOWN, at=path)
    content = message.get("content", "")
    if not isinstance(content, str):
        raise FieldError(f"{path}.content", "content must be a string")
    tool_name = message.get("tool_name")
    if tool_name is not None and not isinstance(tool_name, str):
        raise FieldError(f"{path}.tool_name", "tool_name must be a string")
    calls = _tool_calls(message.get("tool_calls"), f"{path}.tool_calls")
    return content + calls, _images(message.get("images"), f"{path}.images")


def _images(value: object, path: str) -> int:
    if value is None:
        return 0
    if not isinstance(value, list):
        raise FieldError(path, "images must be a list of base64 strings")
    for i, image in enumerate(value):
        try:
            if not isinstance(image, str):
                raise ValueError(image)
            b64decode(image, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise FieldError(f"{path}[{i}]", "illegal base64 data") from exc
    return len(value)


def _tool_calls(value: object, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, list):
        raise FieldError(path, "tool_calls must be a list")
    texts: list[str] = []
    for i, call in enumerate(value):
        function = call.get("function") if isinstance(call, dict) else None
        if (
            not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
            # An object, not the JSON string OpenAI's format uses.
            or not isinstance(function.get("arguments"), dict)
        ):
            raise FieldError(f"{path}[{i}]", "expected {function: {name, arguments: object}}")
        texts.append(function["name"] + str(function["arguments"]))
    return "".join(texts)


def _options(value: object) -> Mapping[str, object]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FieldError("options", "options must be an object")
    reject_unknown(value, _OPTIONS, "invalid option provided", at="options")
    optional_number(value, "temperature", 0.0, 100.0)
    optional_number(value, "top_p", 0.0, 1.0)
    return value


def _num_predict(options: Mapping[str, object]) -> int | None:
    # -1 means "no limit" to Ollama.
    return None if options.get("num_predict") == -1 else optional_count(options, "num_predict")


def _tools(value: object) -> tuple[ToolDef, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise FieldError("tools", "tools must be a list")
    defined: list[ToolDef] = []
    for i, tool in enumerate(value):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise FieldError(f"tools[{i}].type", "type must be function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise FieldError(f"tools[{i}].function.name", "name is required")
        reject_unknown(function, _FUNCTION_FIELDS, _UNKNOWN, at=f"tools[{i}].function")
        parameters = function.get("parameters", {})
        if not isinstance(parameters, dict):
            raise FieldError(f"tools[{i}].function.parameters", "parameters must be an object")
        defined.append(ToolDef(function["name"], parameters))
    return tuple(defined)


def _format(value: object) -> tuple[bool, dict[str, Any] | None]:
    if value is None or value == "":
        return False, None
    if value == "json":
        return True, None
    if isinstance(value, dict):
        return True, value
    raise FieldError("format", 'format must be "json" or a JSON schema object')
