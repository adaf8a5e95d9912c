"""A ``POST /v1/chat/completions`` body as routeyard's :class:`~schemas.events.LLMRequest`.

``model`` picks how the request is routed:

- ``"auto"``: the router decides (no route, no model named);
- a route's name: ``route=<name>``, that route's models and fallbacks;
- a model's config name: ``model=<name>``, that model alone, no fallbacks;
- anything else: 404 ``model_not_found``. A name that is both a route and a model is the
  route; ``"auto"`` is always the router.

Fields routeyard cannot honour are handled by what they do. Those that only tune the
output, where the answer is still a right answer without them, are accepted and
ignored: :data:`IGNORED`. Those that change what comes back (``n`` > 1, ``logprobs``,
audio, the legacy ``functions``) are refused with 400 naming the field unless they ask
for nothing beyond the default (``n: 1``, ``logprobs: false``, ``modalities: ["text"]``).
Any other field is refused as unknown, so a typo never goes unnoticed. A ``null`` is
the same as leaving a field out.

Also: ``max_completion_tokens`` and ``max_tokens`` mean the same (give one, or both
equal); ``user`` is carried as ``metadata["user"]``; a ``tool_choice`` naming a function
is taken only when that function is the only tool (then it is ``"required"``);
``json_schema.strict`` is ignored, as routeyard always asks providers for strict schemas.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import orjson
from pydantic import ValidationError

from routeyard.front.openai_errors import INVALID_REQUEST, OpenAIError
from routeyard.front.openai_messages import to_messages
from routeyard.front.openai_wire import (
    Obj,
    invalid,
    invalid_model,
    only_keys,
    present,
    read_bool,
    read_int,
    read_list,
    read_number,
    read_obj,
    read_str,
    read_str_map,
    unsupported,
)
from schemas.chat import GenerationParams, ResponseFormat, ToolChoice, ToolSpec
from schemas.events import LLMRequest

AUTO_MODEL = "auto"

# Tuning that routeyard's providers do not all take; the answer stands without it.
IGNORED = frozenset(
    {
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "parallel_tool_calls",
        "service_tier",
        "store",
        "prompt_cache_key",
        "prompt_cache_retention",
        "prompt_cache_options",
        "safety_identifier",
        "reasoning_effort",
        "verbosity",
    }
)

# Fields that change what comes back: refused unless they ask for the default (the value
# given here); None: refused whatever they say.
_DEFAULT_ONLY: dict[str, object] = {
    "n": 1,
    "logprobs": False,
    "top_logprobs": 0,
    "modalities": ["text"],
    "functions": [],
    "function_call": None,
    "audio": None,
    "prediction": None,
    "web_search_options": None,
    "moderation": None,
}

_TAKEN = frozenset(
    {
        "model",
        "messages",
        "tools",
        "tool_choice",
        "response_format",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "stream",
        "stream_options",
        "user",
        "metadata",
    }
)


@dataclass(frozen=True)
class ParsedChat:
    """The request to publish and how to answer: as one body or as a stream.

    ``model_label`` is the caller's ``model`` as written (``auto``, a route or a model),
    for the reply bodies (``openai_response`` says what they report for ``auto``).
    """

    request: LLMRequest
    stream: bool
    include_usage: bool
    model_label: str


def to_llm_request(
    body: object,
    *,
    request_id: str,
    tenant: str,
    known_models: AbstractSet[str],
    known_routes: AbstractSet[str],
) -> ParsedChat:
    """Translate a Chat Completions body; raises :class:`OpenAIError` (400 or 404)."""
    if not isinstance(body, dict) or not all(isinstance(k, str) for k in body):
        raise OpenAIError(400, "the request body must be a JSON object", INVALID_REQUEST)
    b = present(body)
    _check_fields(b)
    label = read_str(b.get("model"), "model")
    route, model = _routing(label, known_models, known_routes)
    stream = read_bool(b.get("stream", False), "stream")
    tools = _tools(b.get("tools", []))
    metadata = read_str_map(b.get("metadata", {}), "metadata")
    if "user" in b:
        metadata["user"] = read_str(b["user"], "user")
    try:
        request = LLMRequest(
            request_id=request_id,
            tenant=tenant,
            messages=to_messages(b.get("messages")),
            params=_params(b),
            tools=tools,
            tool_choice=_tool_choice(b.get("tool_choice"), tools),
            response_format=_response_format(b.get("response_format")),
            route=route,
            model=model,
            metadata=metadata,
            stream=stream,
        )
    except ValidationError as exc:
        # What is left for the whole request's checks: the server's own fields.
        loc = exc.errors()[0]["loc"]
        raise invalid_model(str(loc[0]) if loc else "request", exc) from exc
    return ParsedChat(request, stream, _include_usage(b, stream), label)


def _check_fields(b: Obj) -> None:
    for key, value in b.items():
        if key in _TAKEN or key in IGNORED:
            continue
        if key not in _DEFAULT_ONLY:
            raise invalid(key, "unknown field", "unknown_parameter")
        default = _DEFAULT_ONLY[key]
        # type() too: True == 1 and 0 == False, but neither is what the field means.
        if default is None or value != default or type(value) is not type(default):
            raise unsupported(key, "" if default is None else _only(default))


def _only(default: object) -> str:
    return f"only {orjson.dumps(default).decode()} is accepted (one plain answer per request)"


def _routing(
    label: str, known_models: AbstractSet[str], known_routes: AbstractSet[str]
) -> tuple[str | None, str | None]:
    """(route, model) for the caller's ``model``."""
    if label == AUTO_MODEL:
        return None, None
    if label in known_routes:
        return label, None
    if label in known_models:
        return None, label
    raise OpenAIError(
        404,
        f"model {label!r} does not exist: use 'auto', a route or a model GET /v1/models lists",
        INVALID_REQUEST,
        "model",
        "model_not_found",
    )


def _params(b: Obj) -> GenerationParams:
    fields: dict[str, object] = {}
    limits = {
        key: read_int(b[key], key) for key in ("max_completion_tokens", "max_tokens") if key in b
    }
    if len(set(limits.values())) > 1:
        raise invalid("max_tokens", "differs from max_completion_tokens: give one of them")
    if limits:
        fields["max_tokens"] = next(iter(limits.values()))
    for key in ("temperature", "top_p"):
        if key in b:
            fields[key] = read_number(b[key], key)
    if "stop" in b:
        fields["stop"] = _stop(b["stop"])
    try:
        return GenerationParams.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0])
        param = next(iter(limits)) if field == "max_tokens" else field
        raise invalid(param, first["msg"]) from exc


def _stop(value: object) -> list[str] | None:
    if isinstance(value, str):
        words = [value]
    else:
        words = [read_str(w, f"stop[{i}]") for i, w in enumerate(read_list(value, "stop"))]
    # An empty stop sequence stops nothing, and some providers refuse one.
    return [w for w in words if w] or None


def _tools(value: object) -> list[ToolSpec]:
    tools: list[ToolSpec] = []
    for i, item in enumerate(read_list(value, "tools")):
        tool = _tool(item, f"tools[{i}]")
        if any(t.name == tool.name for t in tools):
            raise invalid(f"tools[{i}].function.name", f"{tool.name!r} is given twice")
        tools.append(tool)
    return tools


def _tool(value: object, path: str) -> ToolSpec:
    tool = read_obj(value, path)
    if tool.get("type") != "function":
        raise unsupported(f"{path}.type", "only function tools")
    only_keys(tool, frozenset({"type", "function"}), path)
    fn = read_obj(tool.get("function"), f"{path}.function")
    only_keys(fn, frozenset({"name", "description", "parameters", "strict"}), f"{path}.function")
    spec: dict[str, object] = {"name": read_str(fn.get("name"), f"{path}.function.name")}
    if "description" in fn:
        spec["description"] = read_str(fn["description"], f"{path}.function.description")
    if "parameters" in fn:
        spec["parameters"] = read_obj(fn["parameters"], f"{path}.function.parameters")
    try:
        return ToolSpec.model_validate(spec)
    except ValidationError as exc:
        raise invalid_model(f"{path}.function", exc) from exc


def _tool_choice(value: object, tools: list[ToolSpec]) -> ToolChoice:
    if value is None:
        return "auto"
    if value == "auto":
        return "auto"
    if value == "none":
        return "none"
    if value == "required":
        if not tools:
            raise invalid("tool_choice", "'required' needs at least one tool in tools")
        return "required"
    if isinstance(value, dict) and value.get("type") == "function":
        named = read_obj(value, "tool_choice")
        fn = read_obj(named.get("function"), "tool_choice.function")
        name = read_str(fn.get("name"), "tool_choice.function.name")
        if [t.name for t in tools] == [name]:
            return "required"  # the only tool: requiring a call is requiring this one
        raise unsupported(
            "tool_choice", "naming one function among several; use 'required' or fewer tools"
        )
    if isinstance(value, dict):
        raise unsupported("tool_choice", f"type {value.get('type')!r}")
    raise invalid("tool_choice", "expected 'auto', 'none', 'required' or a function choice")


def _response_format(value: object) -> ResponseFormat | None:
    if value is None:
        return None
    rf = read_obj(value, "response_format")
    kind = rf.get("type")
    if kind == "text":
        only_keys(rf, frozenset({"type"}), "response_format")
        return None
    if kind == "json_object":
        only_keys(rf, frozenset({"type"}), "response_format")
        return ResponseFormat(type="json_object")
    if kind == "json_schema":
        only_keys(rf, frozenset({"type", "json_schema"}), "response_format")
        path = "response_format.json_schema"
        js = read_obj(rf.get("json_schema"), path)
        only_keys(js, frozenset({"name", "schema", "strict", "description"}), path)
        if "schema" not in js:
            raise invalid(f"{path}.schema", "is required: it is what the answer is asked to fit")
        try:
            return ResponseFormat(
                type="json_schema",
                name=read_str(js.get("name"), f"{path}.name"),
                json_schema=read_obj(js["schema"], f"{path}.schema"),
            )
        except ValidationError as exc:
            raise invalid_model(path, exc) from exc
    raise invalid("response_format.type", f"{kind!r} is not text, json_object or json_schema")


def _include_usage(b: Obj, stream: bool) -> bool:
    if "stream_options" not in b:
        return False
    if not stream:
        raise invalid("stream_options", "is only allowed when stream is true")
    options = read_obj(b["stream_options"], "stream_options")
    only_keys(options, frozenset({"include_usage", "include_obfuscation"}), "stream_options")
    return read_bool(options.get("include_usage", False), "stream_options.include_usage")
