"""What every wire format shares: the parsed call, the error to render, the interface.

A wire module parses its vendor's request into a :class:`ChatCall`, and renders the
emulator's :class:`emulator.generate.Reply` (text, a tool call, or JSON) and errors in
its vendor's shapes. ``emulator.wires.ALL_WIRES`` lists the wires the server mounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from emulator.generate import Reply


@dataclass(frozen=True, slots=True)
class ToolDef:
    name: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChatCall:
    """A request reduced to what the emulator's behaviour depends on."""

    model: str
    prompt: str
    prompt_tokens: int
    max_tokens: int | None
    stop: list[str] = field(default_factory=list)
    tools: tuple[ToolDef, ...] = ()
    tool_choice: str = "auto"
    """``auto``, ``none``, ``required``, or the name of the one tool to call."""
    json_mode: bool = False
    json_schema: dict[str, Any] | None = None
    images: int = 0
    answering_tool: bool = False
    """The last message carries tool results: answer in text, do not call again."""


class WireError(Exception):
    """An error reply in the vendor's terms; each wire renders its own body shape."""

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.param = param
        self.code = code


class Wire(Protocol):
    """One vendor's dialect: request checks, and the bodies and headers it replies with."""

    name: str
    request_id_header: str
    id_prefix: str
    """Prefix of response ids, e.g. ``chatcmpl-``."""
    routes: tuple[str, ...]
    """aiohttp POST path patterns; ``{model}`` in a path names the model."""

    def check_headers(self, headers: Mapping[str, str]) -> None:
        """Raise :class:`WireError` for missing credentials or required headers."""

    def parse(self, body: object, path: Mapping[str, str]) -> ChatCall:
        """Validate the JSON body (and path parameters); raise :class:`WireError` as the
        vendor would."""

    def context_window_error(self, call: ChatCall, limit: int) -> WireError: ...

    def status_error(self, status: int) -> WireError:
        """The vendor's error for an injected fault status."""

    def error_body(self, error: WireError, request_id: str) -> dict[str, object]: ...

    def retry_after_headers(self, seconds: float) -> dict[str, str]: ...

    def success_body(
        self, call: ChatCall, reply: Reply, response_id: str, created: int
    ) -> dict[str, object]: ...

    def filtered_body(self, call: ChatCall, response_id: str, created: int) -> dict[str, object]:
        """A 200 whose output the safety filter blocked."""


class FieldError(ValueError):
    """A request field failed validation; ``path`` is dotted, e.g. ``messages.0.role``."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


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


def unknown_fields(body: Mapping[str, object], allowed: frozenset[str]) -> list[str]:
    return sorted(set(body) - allowed)
