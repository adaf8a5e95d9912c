"""Checking request fields, and collecting what a request's messages hold.

Every wire's parser raises :class:`FieldError` for a field its vendor would refuse,
in that vendor's words (each helper takes the ``problem`` text); the wire turns it
into its own error reply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.generate import estimate_tokens


class FieldError(ValueError):
    """A request field failed validation; ``path`` is dotted, e.g. ``messages.0.role``."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def unknown_fields(body: Mapping[str, object], allowed: frozenset[str]) -> list[str]:
    return sorted(set(body) - allowed)


def reject_unknown(
    obj: Mapping[str, object], allowed: frozenset[str], problem: str, *, at: str = ""
) -> None:
    """Refuse the first field (in name order) of ``obj``, found at ``at``, not in ``allowed``."""
    extra = unknown_fields(obj, allowed)
    if extra:
        raise FieldError(_child(at, extra[0]), problem)


def reject_streaming(body: Mapping[str, object]) -> None:
    if body.get("stream"):
        raise FieldError("stream", "streaming is not emulated")


def required_string(obj: Mapping[str, object], name: str, problem: str, *, at: str = "") -> str:
    """``obj[name]``, which must be a non-empty string."""
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise FieldError(_child(at, name), problem)
    return value


def required_list(obj: Mapping[str, object], name: str, problem: str) -> list[Any]:
    """``obj[name]``, which must be a non-empty list."""
    value = obj.get(name)
    if not isinstance(value, list) or not value:
        raise FieldError(name, problem)
    return value


def string_list(
    value: object, path: str, problem: str, *, max_items: int | None = None
) -> list[str]:
    """A list of strings (stop sequences, say), at most ``max_items``; None is empty."""
    if value is None:
        return []
    if (
        isinstance(value, list)
        and (max_items is None or len(value) <= max_items)
        and all(isinstance(s, str) for s in value)
    ):
        return list(value)
    raise FieldError(path, problem)


def optional_number(body: Mapping[str, object], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(name, "Input should be a valid number")
    if not low <= value <= high:
        raise FieldError(name, f"Input should be between {low:g} and {high:g}")
    return float(value)


def optional_count(body: Mapping[str, object], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(name, "Input should be a valid integer")
    if value < 1:
        raise FieldError(name, "Input should be greater than or equal to 1")
    return value


def text_content(value: object, path: str) -> str:
    """A message's content: a string, or a list of text blocks joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts: list[str] = []
        for i, block in enumerate(value):
            if not isinstance(block, dict) or block.get("type") != "text":
                raise FieldError(f"{path}.{i}", "only text blocks are emulated")
            text = block.get("text")
            if not isinstance(text, str):
                raise FieldError(f"{path}.{i}.text", "Input should be a valid string")
            parts.append(text)
        return "".join(parts)
    raise FieldError(path, "Input should be a valid string or list of blocks")


@dataclass
class SeenContent:
    """What the messages held, accumulated while walking them in order."""

    texts: list[str] = field(default_factory=list)
    images: int = 0
    last_text: str = ""
    """The latest message's text: the prompt a reply echoes."""
    answering_tool: bool = False
    """The latest message carries tool results."""

    def next_message(self) -> None:
        self.last_text, self.answering_tool = "", False

    def add_text(self, text: str) -> None:
        self.texts.append(text)
        self.last_text += text

    def add_unechoed(self, text: str) -> None:
        """Text the model reads but a reply does not echo, e.g. a tool call's arguments."""
        self.texts.append(text)

    @property
    def prompt_tokens(self) -> int:
        return sum(estimate_tokens(t) for t in self.texts)


def _child(at: str, name: str) -> str:
    return f"{at}.{name}" if at else name
