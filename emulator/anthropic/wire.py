"""Anthropic Messages, as the emulator speaks it: checks, replies, error shapes.

Replies carry text or a ``tool_use`` block, and report prompt-cache reads in ``usage``.
Request bodies are read by :mod:`emulator.anthropic.parse`; a request with ``"stream":
true`` gets the same reply as the events of :mod:`emulator.anthropic.stream`.
"""

from __future__ import annotations

from collections.abc import Mapping

from emulator.anthropic.parse import parse_request
from emulator.anthropic.stream import message_events
from emulator.base import ChatCall, WireError, retry_after_header
from emulator.fields import FieldError
from emulator.generate import Reply

_STATUS_ERRORS: dict[int, tuple[str, str]] = {
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "This request would exceed the rate limit for your organization. "
          "Please try again later."),
    500: ("api_error", "Internal server error"),
    502: ("api_error", "Bad gateway"),
    503: ("api_error", "Service unavailable"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}  # fmt: skip


class AnthropicWire:
    name = "anthropic"
    request_id_header = "request-id"
    id_prefix = "msg_"
    routes: tuple[str, ...] = ("/v1/messages",)
    stream_content_type = "text/event-stream; charset=utf-8"

    def check_headers(self, headers: Mapping[str, str]) -> None:
        # Anthropic takes a key in x-api-key or as a bearer token; its SDK sends the latter.
        scheme, _, token = headers.get("authorization", "").partition(" ")
        bearer = scheme.lower() == "bearer" and token.strip()
        if not headers.get("x-api-key", "").strip() and not bearer:
            raise WireError(401, "authentication_error", "x-api-key header is required")
        if not headers.get("anthropic-version", "").strip():
            raise WireError(400, "invalid_request_error", "anthropic-version: header is required")

    def parse(self, body: object, path: Mapping[str, str]) -> ChatCall:
        if not isinstance(body, dict):
            raise WireError(400, "invalid_request_error", "The request body is not valid JSON.")
        try:
            return parse_request(body)
        except FieldError as exc:
            raise WireError(400, "invalid_request_error", str(exc)) from exc

    def context_window_error(self, call: ChatCall, limit: int) -> WireError:
        return WireError(
            400,
            "invalid_request_error",
            f"prompt is too long: {call.prompt_tokens} tokens > {limit} maximum",
        )

    def status_error(self, status: int, retry_after_s: float | None = None) -> WireError:
        error_type, message = _STATUS_ERRORS[status]
        return WireError(status, error_type, message, retry_after_s=retry_after_s)

    def error_body(self, error: WireError, request_id: str) -> dict[str, object]:
        return {
            "type": "error",
            "error": {"type": error.error_type, "message": error.message},
            "request_id": request_id,
        }

    def error_headers(self, error: WireError) -> dict[str, str]:
        return retry_after_header(error)

    def success_body(
        self, call: ChatCall, reply: Reply, response_id: str, created: int
    ) -> dict[str, object]:
        content: list[dict[str, object]] = []
        if reply.text:
            content.append({"type": "text", "text": reply.text})
        if reply.tool_call is not None:
            # Anthropic's ids look like toolu_01...; the planner's suffix keeps it stable.
            call_id = "toolu_" + reply.tool_call.call_id.removeprefix("call_")
            content.append(
                {
                    "type": "tool_use",
                    "id": call_id,
                    "name": reply.tool_call.name,
                    "input": reply.tool_call.arguments,
                }
            )
        return _message(call, content, reply, response_id)

    def stream_frames(
        self, call: ChatCall, reply: Reply, response_id: str, created: int
    ) -> list[bytes]:
        return message_events(self.success_body(call, reply, response_id, created))

    def filtered_body(self, call: ChatCall, response_id: str, created: int) -> dict[str, object]:
        refusal = Reply("", 1, "end_turn")
        body = _message(call, [], refusal, response_id)
        body["stop_reason"] = "refusal"
        body["stop_details"] = {"type": "refusal", "category": None, "explanation": None}
        return body


def _message(
    call: ChatCall, content: list[dict[str, object]], reply: Reply, response_id: str
) -> dict[str, object]:
    # Anthropic's input_tokens counts only what was neither read from nor written to
    # the cache; the emulator's cache hits are reads.
    cached = min(reply.cached_tokens, call.prompt_tokens)
    return {
        "id": response_id,
        "type": "message",
        "role": "assistant",
        "model": call.model,
        "content": content,
        "stop_reason": reply.stop,
        "stop_sequence": reply.stop_sequence,
        "usage": {
            "input_tokens": call.prompt_tokens - cached,
            "output_tokens": reply.output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": cached,
            "service_tier": "standard",
        },
    }
