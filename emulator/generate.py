"""Deterministic answers: the same request always gets the same text and token counts.

:func:`plan_reply` decides what kind of answer a call gets: a tool call (when tools are
offered and the prompt names one, or a tool is required), a JSON document (JSON mode or
a schema), or text echoing the prompt.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import orjson

if TYPE_CHECKING:
    from emulator.base import ChatCall, ToolDef

# Roughly what a BPE tokenizer averages on English text.
CHARS_PER_TOKEN = 4
# Answers the model "wants" to give run between these many tokens before max_tokens.
_MIN_NATURAL_TOKENS = 8
_NATURAL_TOKENS_SPREAD = 56
_FALLBACK_WORDS = ("ok",)


def estimate_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 1


@dataclass(frozen=True, slots=True)
class EmulatedToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    call_id: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    output_tokens: int
    stop: Literal["end_turn", "max_tokens", "stop_sequence", "tool_use"]
    stop_sequence: str | None = None
    tool_call: EmulatedToolCall | None = None
    cached_tokens: int = 0
    """Prompt tokens served from the cache; set by the server, not by the planner."""


def plan_reply(call: ChatCall) -> Reply:
    tool = _tool_to_call(call)
    if tool is not None:
        arguments = sample_value(tool.parameters)
        if not isinstance(arguments, dict):
            arguments = {}
        call_id = f"call_{_digest(call.prompt + tool.name) % 16**24:024x}"
        encoded = orjson.dumps(arguments).decode()
        return Reply(
            "",
            estimate_tokens(encoded),
            "tool_use",
            None,
            EmulatedToolCall(tool.name, arguments, call_id),
        )
    if call.json_mode or call.json_schema is not None:
        document = (
            sample_value(call.json_schema)
            if call.json_schema is not None
            else {"answer": _echo(call.prompt, 40)}
        )
        text = orjson.dumps(document).decode()
        return Reply(text, estimate_tokens(text), "end_turn")
    return generate_reply(call.prompt, max_tokens=call.max_tokens, stop=call.stop)


def _tool_to_call(call: ChatCall) -> ToolDef | None:
    if not call.tools or call.tool_choice == "none" or call.answering_tool:
        return None
    by_name = {t.name: t for t in call.tools}
    if call.tool_choice in by_name:
        return by_name[call.tool_choice]
    mentioned = [t for t in call.tools if t.name in call.prompt]
    if mentioned:
        return mentioned[0]
    return call.tools[0] if call.tool_choice == "required" else None


def sample_value(schema: dict[str, Any]) -> Any:
    """A small value valid against a plain JSON Schema (types, properties, enum, items)."""
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    match kind:
        case "object":
            props = schema.get("properties", {})
            return {name: sample_value(sub) for name, sub in props.items()}
        case "array":
            return [sample_value(schema.get("items", {"type": "string"}))]
        case "integer":
            return int(schema.get("minimum", 1))
        case "number":
            return float(schema.get("minimum", 1.5))
        case "boolean":
            return True
        case "null":
            return None
        case _:
            return "example"


def generate_reply(prompt: str, *, max_tokens: int | None, stop: list[str]) -> Reply:
    """An answer echoing the prompt's words, sized by a hash of the prompt.

    The text is built so :func:`estimate_tokens` of it equals ``output_tokens``.
    A stop sequence found in the text cuts it there, as a real model would stop.
    """
    natural = _MIN_NATURAL_TOKENS + _digest(prompt) % _NATURAL_TOKENS_SPREAD
    tokens = natural if max_tokens is None else min(natural, max_tokens)
    text = _echo(prompt, _chars_for(tokens))
    for sequence in stop:
        cut = text.find(sequence) if sequence else -1
        if cut >= 0:
            kept = text[:cut]
            return Reply(kept, estimate_tokens(kept), "stop_sequence", sequence)
    reason: Literal["end_turn", "max_tokens"] = "max_tokens" if tokens < natural else "end_turn"
    return Reply(text, tokens, reason)


def _chars_for(tokens: int) -> int:
    # The longest text whose estimate is exactly ``tokens``.
    return tokens * CHARS_PER_TOKEN - 1


def _echo(prompt: str, length: int) -> str:
    words = prompt.split() or list(_FALLBACK_WORDS)
    text = " ".join(itertools.islice(itertools.cycle(words), length))
    return text[:length]


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def fixed_reply(call: ChatCall, reply: Reply, answer: str) -> Reply:
    """``reply`` with its text replaced by a profile's fixed ``answer``: plain-text replies
    only (a tool call or a JSON-mode document keeps its shape), cut at ``max_tokens``."""
    if reply.tool_call is not None or call.json_mode or call.json_schema is not None:
        return reply
    tokens = estimate_tokens(answer)
    if call.max_tokens is not None and tokens > call.max_tokens:
        kept = answer[: _chars_for(call.max_tokens)]
        return Reply(kept, estimate_tokens(kept), "max_tokens", cached_tokens=reply.cached_tokens)
    return Reply(answer, tokens, "end_turn", cached_tokens=reply.cached_tokens)


# What a refusal fault answers: the shape real models give when they decline.
REFUSAL_TEXT = "I'm sorry, but I can't help with that."


def spoil_reply(reply: Reply, fault: str) -> Reply:
    """``reply`` made bad by an answer fault (``empty``, ``invalid_json``, ``refusal``);
    any other fault leaves it as it is. ``invalid_json`` is only drawn for JSON mode."""
    if fault == "empty":
        text = ""
    elif fault == "refusal":
        text = REFUSAL_TEXT
    elif fault == "invalid_json":
        text = _unclosed(reply.text)
    else:
        return reply
    return Reply(text, estimate_tokens(text), "end_turn", cached_tokens=reply.cached_tokens)


def _unclosed(document: str) -> str:
    """A JSON document that no longer parses, as a model that stops one character short
    writes it: the closing bracket or quote dropped (a bare scalar gets a trailing comma)."""
    if document[-1:] in ("}", "]", '"'):
        return document[:-1]
    return document + ","
