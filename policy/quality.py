"""Quality checks on one answer: pure and deterministic.

:func:`first_failure` runs the asked-for checks in :data:`ORDER` and returns the first
that fails. A check that does not apply to the request passes: ``json`` without JSON
mode, ``json_schema`` without a response schema, ``tool_arguments`` without tool calls.

====================  ==================================================================
check                 the answer fails when
====================  ==================================================================
``empty``             it has no tool call and its text is empty or only whitespace
``truncated``         the provider stopped at the token limit (finish reason ``length``)
                      and the caller did not accept truncation: request metadata
                      ``accept_truncation: "true"`` accepts it for one request, leaving
                      ``truncated`` out of the route's ``escalation.checks`` for a route
``refusal``           it is refusal-only: short (:data:`REFUSAL_MAX_CHARS`), it opens with
                      a refusal (:data:`_REFUSAL`: an optional apology, then "I can't /
                      cannot / won't / am unable to" + help, assist, comply, provide, ...)
                      and gives nothing after it: no "but", "however", "here", "instead",
                      no colon, semicolon or digit. A long answer that mentions it cannot
                      do something, or a refusal followed by an alternative, passes.
``json``              JSON mode (``json_object`` or ``json_schema``) and the text does not
                      parse as JSON; for ``json_object``, also JSON that is not an object
``json_schema``       the text is not JSON valid against the request's response schema
``tool_arguments``    a tool call names a tool the request did not offer, or its arguments
                      are not valid against that tool's parameters schema
====================  ==================================================================

Schemas are the caller's: one that is not a valid JSON Schema, refers to a document it
does not contain, or recurses without end cannot judge an answer, so the check passes
rather than reject every model's answer. A failure's ``detail`` quotes at most
:data:`QUOTE_CHARS` characters of the answer.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from adapters.base import ProviderResult
from schemas.events import LLMRequest
from schemas.responses import QualityCheck

__all__ = ["ACCEPT_TRUNCATION", "ORDER", "QualityCheck", "QualityFailure", "first_failure"]

ORDER: tuple[QualityCheck, ...] = (
    "empty",
    "truncated",
    "refusal",
    "json",
    "json_schema",
    "tool_arguments",
)
# Request metadata key (value "true") by which a caller accepts a truncated answer.
ACCEPT_TRUNCATION = "accept_truncation"
# A refusal-only answer is short; a longer one that opens with a refusal goes on to say
# something, which the checks cannot judge.
REFUSAL_MAX_CHARS = 200
QUOTE_CHARS = 80
# Compiled schemas up to this size are kept (256 of them at most).
_CACHED_SCHEMA_BYTES = 64 * 1024

# Characters str.strip() keeps that still show nothing.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_REFUSAL = re.compile(
    r"""^
    (?:as\ an\ ai(?:\ language\ model)?,?\s+)?
    (?:(?:i'm|i\ am|i'm\ really|i\ am\ really)?\s*sorry|i\ apologi[sz]e|unfortunately)?
    [,.!]?\s*(?:but\s+)?
    (?:(?:i|we)\s+(?:can't|cannot|can\ not|won't|will\ not|am\ unable\ to|are\ unable\ to
                     |am\ not\ able\ to|must\ decline\ to|am\ not\ allowed\ to)
       |(?:i'm|we're)\s+(?:unable\ to|not\ able\ to|not\ allowed\ to))\s+
    (?:help|assist|comply|provide|do|fulfil|fulfill|answer|support|complete|create|generate
       |write|share|engage|participate|continue|process)\b
    """,
    re.VERBOSE,
)
# What shows that a refusal goes on to give something after all.
_PIVOT = re.compile(r"\b(?:but|however|instead|here|although|though)\b|[:;0-9]")


@dataclass(frozen=True)
class QualityFailure:
    check: QualityCheck
    detail: str


def first_failure(
    request: LLMRequest, result: ProviderResult, checks: Sequence[QualityCheck]
) -> QualityFailure | None:
    """The first of ``checks`` (taken in :data:`ORDER`) that the answer fails, or None."""
    wanted = set(checks)
    for check in ORDER:
        if check in wanted:
            detail = _CHECKS[check](request, result)
            if detail is not None:
                return QualityFailure(check, detail)
    return None


def _clip(text: str, limit: int = QUOTE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _empty(request: LLMRequest, result: ProviderResult) -> str | None:
    if result.tool_calls or result.content.strip().strip(_INVISIBLE).strip():
        return None
    return f"no text and no tool call ({len(result.content)} characters of whitespace)"


def _truncated(request: LLMRequest, result: ProviderResult) -> str | None:
    if result.finish_reason != "length":
        return None
    if request.metadata.get(ACCEPT_TRUNCATION, "").strip().lower() == "true":
        return None
    limit = request.params.max_tokens
    cap = f"max_tokens={limit}" if limit is not None else "the model's own limit"
    return f"stopped at the token limit ({cap}) after {result.output_tokens} tokens"


def _normalized(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").replace("\u2018", "'").lower().split())


def _refusal(request: LLMRequest, result: ProviderResult) -> str | None:
    if result.tool_calls:
        return None
    text = _normalized(result.content)
    if not text or len(text) > REFUSAL_MAX_CHARS:
        return None
    found = _REFUSAL.match(text)
    if found is None or _PIVOT.search(text, found.end()):
        return None
    return f"refusal only: {_clip(result.content.strip())!r}"


def _json_mode(request: LLMRequest) -> bool:
    fmt = request.response_format
    return fmt is not None and fmt.type in ("json_object", "json_schema")


def _parse(content: str) -> tuple[Any, str | None]:
    """The document and None, or None and why it is not JSON."""
    # The standard parser, not orjson: orjson turns integers past 64 bits into floats
    # (an integer schema would then reject them) and refuses 1e400, both valid JSON.
    try:
        return json.loads(content, parse_constant=_not_json), None
    except json.JSONDecodeError as exc:
        return None, f"not JSON ({exc.msg} at character {exc.pos}): {_clip(content.strip())!r}"


def _not_json(name: str) -> None:
    # NaN and Infinity: Python's parser takes them, JSON has no such values.
    raise json.JSONDecodeError(f"{name} is not a JSON value", name, 0)


def _json(request: LLMRequest, result: ProviderResult) -> str | None:
    if not _json_mode(request) or result.tool_calls:
        return None
    document, problem = _parse(result.content)
    if problem is not None:
        return problem
    fmt = request.response_format
    if fmt is not None and fmt.type == "json_object" and not isinstance(document, dict):
        return f"JSON mode asks for an object, got {type(document).__name__}"
    return None


def _compiled(schema: dict[str, Any]) -> Any:
    """A validator for ``schema``, or None when it is not a valid schema.

    Checking a schema against its meta-schema takes about a millisecond, fifty times the
    validation itself; a route's requests mostly repeat a few schemas, so small ones are
    kept (by their text, so equal schemas share one).
    """
    try:
        text = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # integers past 64 bits: judged, not kept
        return _validator_of(schema)
    if len(text) > _CACHED_SCHEMA_BYTES:
        return _validator_of(schema)
    return _cached_validator(text)


@functools.lru_cache(maxsize=256)
def _cached_validator(schema_json: bytes) -> Any:
    return _validator_of(orjson.loads(schema_json))


def _validator_of(schema: dict[str, Any]) -> Any:
    # jsonschema is imported by the first request with a response schema, not by every
    # gateway worker: ~6 MB of memory (issue 15).
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    cls = validator_for(schema)
    try:
        cls.check_schema(schema)
    except (SchemaError, RecursionError):
        return None
    return cls(schema)


def _violation(schema: dict[str, Any], instance: Any) -> str | None:
    """The most telling way ``instance`` breaks ``schema``, or None (also when the schema
    cannot judge: not a valid schema, unresolvable or endless references)."""
    from jsonschema.exceptions import best_match
    from referencing.exceptions import Unresolvable

    validator = _compiled(schema)
    if validator is None:
        return None
    try:
        error = best_match(validator.iter_errors(instance))
    except (Unresolvable, RecursionError):
        return None
    if error is None:
        return None
    return _clip(f"{error.json_path}: {error.message}")


def _json_schema(request: LLMRequest, result: ProviderResult) -> str | None:
    fmt = request.response_format
    if fmt is None or fmt.json_schema is None or result.tool_calls:
        return None
    document, problem = _parse(result.content)
    if problem is not None:
        return problem
    found = _violation(fmt.json_schema, document)
    return f"violates the response schema at {found}" if found is not None else None


def _tool_arguments(request: LLMRequest, result: ProviderResult) -> str | None:
    tools = {t.name: t for t in request.tools}
    for call in result.tool_calls:
        tool = tools.get(call.name)
        if tool is None:
            offered = ", ".join(sorted(tools)) or "none"
            return f"calls tool {_clip(call.name, 64)!r}, not offered (offered: {offered})"
        found = _violation(tool.parameters, call.arguments)
        if found is not None:
            return f"arguments of {call.name} violate its parameters at {found}"
    return None


_CHECKS: dict[QualityCheck, Callable[[LLMRequest, ProviderResult], str | None]] = {
    "empty": _empty,
    "truncated": _truncated,
    "refusal": _refusal,
    "json": _json,
    "json_schema": _json_schema,
    "tool_arguments": _tool_arguments,
}
