"""Reading a Gemini ``generateContent`` request body into a :class:`ChatCall`.

Field names are the REST API's; as with any proto3 JSON parser, the proto's own
snake_case names are accepted too (the google-genai SDK sends some that way). An
unknown name is refused the way Google's parser refuses it ("Unknown name ...: Cannot
find field."), which catches adapters sending misspelt or invented fields.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import orjson

from emulator.base import ChatCall, ToolDef
from emulator.fields import (
    FieldError,
    SeenContent,
    optional_count,
    optional_number,
    required_list,
    required_string,
    string_list,
)

_REQUEST = frozenset(
    {
        "contents", "systemInstruction", "tools", "toolConfig", "generationConfig",
        "safetySettings", "cachedContent",
    }
)  # fmt: skip
_CONTENT = frozenset({"role", "parts"})
_PART = frozenset(
    {"text", "inlineData", "fileData", "functionCall", "functionResponse", "thought",
     "thoughtSignature"}
)  # fmt: skip
_DECLARATION = frozenset(
    {"name", "description", "parameters", "parametersJsonSchema", "response",
     "responseJsonSchema", "behavior"}
)  # fmt: skip
_GENERATION = frozenset(
    {
        "stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema",
        "responseModalities", "candidateCount", "maxOutputTokens", "temperature", "topP",
        "topK", "seed", "presencePenalty", "frequencyPenalty", "responseLogprobs", "logprobs",
        "thinkingConfig", "mediaResolution",
    }
)  # fmt: skip
_BLOB = frozenset({"mimeType", "data", "displayName"})
_FILE = frozenset({"mimeType", "fileUri", "displayName"})
_CALL = frozenset({"id", "name", "args"})
_ANSWER = frozenset({"id", "name", "response", "parts", "willContinue", "scheduling"})
_TOOL = frozenset(
    {"functionDeclarations", "googleSearch", "googleSearchRetrieval", "codeExecution",
     "urlContext", "fileSearch", "googleMaps", "computerUse"}
)  # fmt: skip
_TOOL_CONFIG = frozenset({"functionCallingConfig", "retrievalConfig"})
_CALLING = frozenset({"mode", "allowedFunctionNames"})
_ROLES = frozenset({"user", "model"})
_MIME_TYPES = frozenset({"text/plain", "application/json", "text/x.enum"})
_MODES = {"AUTO": "auto", "VALIDATED": "auto", "ANY": "required", "NONE": "none"}
_MAX_STOP = 5


def parse_request(raw: Mapping[str, object], model: str) -> ChatCall:
    body = _known(raw, _REQUEST, "")
    contents = required_list(body, "contents", "contents is not specified")
    seen = SeenContent()
    system = body.get("systemInstruction")
    if system is not None:
        _content(system, "system_instruction", seen, text_only=True)
    for i, content in enumerate(contents):
        seen.next_message()
        _content(content, f"contents[{i}]", seen, text_only=False)
    tools = _tools(body.get("tools"))
    config = _known(
        _object(body.get("generationConfig") or {}, "generation_config"),
        _GENERATION,
        "generation_config",
    )
    json_mode, json_schema = _json_output(config)
    if config.get("candidateCount", 1) != 1:
        raise FieldError("generation_config.candidate_count", "only 1 candidate is emulated")
    optional_number(config, "temperature", 0.0, 2.0)
    optional_number(config, "topP", 0.0, 1.0)
    return ChatCall(
        model=model,
        prompt=seen.last_text,
        prompt_tokens=seen.prompt_tokens,
        max_tokens=optional_count(config, "maxOutputTokens"),
        stop=string_list(
            config.get("stopSequences"),
            "generation_config.stop_sequences",
            f"at most {_MAX_STOP} strings",
            max_items=_MAX_STOP,
        ),
        tools=tools,
        tool_choice=_tool_choice(body.get("toolConfig"), tools),
        json_mode=json_mode,
        json_schema=json_schema,
        images=seen.images,
        answering_tool=seen.answering_tool,
    )


def _known(obj: Mapping[str, Any], allowed: frozenset[str], at: str) -> dict[str, Any]:
    """``obj`` with every field under its camelCase name; unknown names refused."""
    fields = {_camel(name): value for name, value in obj.items()}
    for name in sorted(set(fields) - allowed):
        where = f" at '{at}'" if at else ""
        raise FieldError(at or name, f'Unknown name "{name}"{where}: Cannot find field.')
    return fields


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def _object(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FieldError(path, "Proto field is not repeating, cannot start list.")
    return value


def _string(obj: Mapping[str, object], name: str, path: str) -> str:
    return required_string(obj, name, f"{name} is required and must be a string", at=path)


def _content(value: object, path: str, seen: SeenContent, *, text_only: bool) -> None:
    content = _known(_object(value, path), _CONTENT, path)
    role = content.get("role")
    if not text_only and role is not None and role not in _ROLES:
        raise FieldError(f"{path}.role", "Please use a valid role: user, model.")
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        raise FieldError(f"{path}.parts", "must contain at least one part")
    for i, part in enumerate(parts):
        _part(_object(part, f"{path}.parts[{i}]"), f"{path}.parts[{i}]", seen, text_only)


def _part(raw: dict[str, Any], path: str, seen: SeenContent, text_only: bool) -> None:
    part = _known(raw, _PART, path)
    data = [k for k in ("text", "inlineData", "fileData", "functionCall", "functionResponse")
            if k in part]  # fmt: skip
    if len(data) != 1 or (text_only and data != ["text"]):
        raise FieldError(path, "a part holds exactly one kind of data")
    kind = data[0]
    if kind == "text":
        if not isinstance(part["text"], str):
            raise FieldError(f"{path}.text", "text must be a string")
        seen.add_text(part["text"])
    elif kind == "inlineData":
        blob = _known(_object(part["inlineData"], f"{path}.inline_data"), _BLOB, path)
        mime_type = _string(blob, "mimeType", f"{path}.inline_data")
        try:
            base64.b64decode(_string(blob, "data", f"{path}.inline_data"), validate=True)
        except binascii.Error as exc:
            raise FieldError(f"{path}.inline_data.data", "Invalid value (bytes)") from exc
        seen.images += mime_type.startswith("image/")
    elif kind == "fileData":
        file_data = _known(_object(part["fileData"], f"{path}.file_data"), _FILE, path)
        _string(file_data, "fileUri", f"{path}.file_data")
        seen.images += 1
    elif kind == "functionCall":
        call = _known(_object(part["functionCall"], f"{path}.function_call"), _CALL, path)
        _string(call, "name", f"{path}.function_call")
        seen.add_unechoed(orjson.dumps(call.get("args") or {}).decode())
    else:
        answer = _known(
            _object(part["functionResponse"], f"{path}.function_response"), _ANSWER, path
        )
        _string(answer, "name", f"{path}.function_response")
        response = _object(answer.get("response"), f"{path}.function_response.response")
        seen.add_text(orjson.dumps(response).decode())
        seen.answering_tool = True


def _tools(value: object) -> tuple[ToolDef, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise FieldError("tools", "tools must be a list")
    found: list[ToolDef] = []
    for i, tool in enumerate(value):
        path = f"tools[{i}]"
        entry = _known(_object(tool, path), _TOOL, path)
        declarations = entry.get("functionDeclarations")
        if set(entry) != {"functionDeclarations"} or not isinstance(declarations, list):
            raise FieldError(path, "only functionDeclarations tools are emulated")
        for j, raw in enumerate(declarations):
            where = f"{path}.function_declarations[{j}]"
            declaration = _known(_object(raw, where), _DECLARATION, where)
            if "parameters" in declaration and "parametersJsonSchema" in declaration:
                raise FieldError(where, "parameters and parametersJsonSchema are exclusive")
            schema = declaration.get("parametersJsonSchema") or _lower_types(
                declaration.get("parameters") or {}
            )
            found.append(ToolDef(_string(declaration, "name", where), schema))
    return tuple(found)


def _tool_choice(value: object, tools: tuple[ToolDef, ...]) -> str:
    if value is None:
        return "auto"
    path = "tool_config.function_calling_config"
    tool_config = _known(_object(value, "tool_config"), _TOOL_CONFIG, "tool_config")
    config = _known(_object(tool_config.get("functionCallingConfig", {}), path), _CALLING, path)
    mode = _MODES.get(str(config.get("mode", "AUTO")))
    if mode is None:
        raise FieldError(f"{path}.mode", "Invalid value")
    allowed = config.get("allowedFunctionNames")
    if mode == "required" and isinstance(allowed, list) and len(allowed) == 1:
        return str(allowed[0])
    return mode


def _json_output(config: Mapping[str, object]) -> tuple[bool, dict[str, Any] | None]:
    mime_type = config.get("responseMimeType", "text/plain")
    if mime_type not in _MIME_TYPES:
        raise FieldError("generation_config.response_mime_type", f"Unsupported: {mime_type}")
    schemas = [config[k] for k in ("responseSchema", "responseJsonSchema") if k in config]
    if len(schemas) > 1:
        raise FieldError("generation_config", "responseSchema and responseJsonSchema conflict")
    if schemas and mime_type != "application/json":
        raise FieldError(
            "generation_config.response_mime_type",
            "a response schema requires responseMimeType application/json",
        )
    if not schemas:
        return mime_type == "application/json", None
    schema = _object(schemas[0], "generation_config.response_schema")
    return True, schema if "responseJsonSchema" in config else _lower_types(schema)


def _lower_types(schema: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI-subset schema (``"type": "OBJECT"``) in JSON Schema's spelling."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key == "properties" and isinstance(value, dict):
            out[key] = {k: _lower_types(v) for k, v in value.items() if isinstance(v, dict)}
        elif key == "items" and isinstance(value, dict):
            out[key] = _lower_types(value)
        else:
            out[key] = value
    return out
