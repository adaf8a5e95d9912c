"""The interface every wire format implements: the parsed call, the error to render.

A vendor's ``parse`` module reduces its request to a :class:`ChatCall` (with the field
checks in :mod:`emulator.fields`), and its ``wire`` module renders the emulator's
:class:`emulator.generate.Reply` (text, a tool call, or JSON) and errors in the
vendor's shapes. :data:`emulator.registry.WIRES` lists the wires the server mounts.
"""

from __future__ import annotations

import math
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
    stream: bool = False
    """The caller asked for the streaming form of the reply."""
    stream_usage: bool = False
    """OpenAI's ``stream_options.include_usage``: a usage-only chunk ends the stream."""


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
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.param = param
        self.code = code
        self.retry_after_s = retry_after_s
        """How long the caller is asked to wait; wires render it in headers (and Gemini
        in the body too)."""


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

    def status_error(self, status: int, retry_after_s: float | None = None) -> WireError:
        """The vendor's error for an injected fault status, carrying ``retry_after_s``."""

    def error_body(self, error: WireError, request_id: str) -> dict[str, object]: ...

    def error_headers(self, error: WireError) -> dict[str, str]:
        """Headers sent with ``error``: its retry delay in the vendor's headers, when it
        carries one, and any header the vendor names its errors in."""

    def success_body(
        self, call: ChatCall, reply: Reply, response_id: str, created: int
    ) -> dict[str, object]: ...

    def filtered_body(self, call: ChatCall, response_id: str, created: int) -> dict[str, object]:
        """A 200 whose output the safety filter blocked."""

    stream_content_type: str
    """The content type of a streamed reply (text/event-stream for SSE dialects)."""

    def stream_frames(
        self, call: ChatCall, reply: Reply, response_id: str, created: int
    ) -> list[bytes]:
        """The streamed reply as the vendor frames it, each frame whole (an SSE event with
        its blank line, an NDJSON line, an event-stream message), the closing one last."""


def retry_after_header(error: WireError) -> dict[str, str]:
    """``retry-after`` in whole seconds, rounded up, when ``error`` carries a delay."""
    if error.retry_after_s is None:
        return {}
    return {"retry-after": str(math.ceil(error.retry_after_s))}
