"""Anthropic Messages, as the emulator speaks it: checks, replies, error shapes."""

from __future__ import annotations

import math
from collections.abc import Mapping

from emulator.generate import Reply, estimate_tokens
from emulator.wire import (
    ChatCall,
    FieldError,
    WireError,
    optional_count,
    text_content,
    unknown_fields,
)

# The request fields of Anthropic's Messages API (anthropic SDK 2.12, which has no
# sampling parameters); anything else is rejected as Anthropic does ("Extra inputs
# are not permitted"), which catches adapters sending invented parameters.
_ALLOWED = frozenset(
    {
        "model", "messages", "max_tokens", "system", "stop_sequences", "metadata", "stream",
        "service_tier", "thinking", "tools", "tool_choice", "output_config", "cache_control",
        "container", "inference_geo", "speed",
    }
)  # fmt: skip
# The installed SDK's MessageParam includes a system role in ``messages``; the
# top-level ``system`` field remains the portable form, which adapters send.
_ROLES = frozenset({"user", "assistant", "system"})

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
            return _parse(body)
        except FieldError as exc:
            raise WireError(400, "invalid_request_error", str(exc)) from exc

    def context_window_error(self, call: ChatCall, limit: int) -> WireError:
        return WireError(
            400,
            "invalid_request_error",
            f"prompt is too long: {call.prompt_tokens} tokens > {limit} maximum",
        )

    def status_error(self, status: int) -> WireError:
        error_type, message = _STATUS_ERRORS[status]
        return WireError(status, error_type, message)

    def error_body(self, error: WireError, request_id: str) -> dict[str, object]:
        return {
            "type": "error",
            "error": {"type": error.error_type, "message": error.message},
            "request_id": request_id,
        }

    def retry_after_headers(self, seconds: float) -> dict[str, str]:
        return {"retry-after": str(math.ceil(seconds))}

    def success_body(
        self, call: ChatCall, reply: Reply, response_id: str, created: int
    ) -> dict[str, object]:
        content = [{"type": "text", "text": reply.text}] if reply.text else []
        return _message(
            call, content, reply.stop, reply.stop_sequence, reply.output_tokens, response_id
        )

    def filtered_body(self, call: ChatCall, response_id: str, created: int) -> dict[str, object]:
        return _message(call, [], "refusal", None, 1, response_id)


def _parse(body: Mapping[str, object]) -> ChatCall:
    extra = unknown_fields(body, _ALLOWED)
    if extra:
        raise FieldError(extra[0], "Extra inputs are not permitted")
    if body.get("stream"):
        raise FieldError("stream", "streaming is not emulated")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise FieldError("model", "Field required")
    max_tokens = optional_count(body, "max_tokens")
    if max_tokens is None:
        raise FieldError("max_tokens", "Field required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise FieldError("messages", "Field required")
    texts: list[str] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise FieldError(
                f"messages.{i}.role", "Input should be 'user', 'assistant' or 'system'"
            )
        texts.append(text_content(message.get("content"), f"messages.{i}.content"))
    system = body.get("system")
    if system is not None:
        texts.insert(0, text_content(system, "system"))
    return ChatCall(
        model=model,
        prompt=texts[-1],
        prompt_tokens=sum(estimate_tokens(t) for t in texts),
        max_tokens=max_tokens,
        stop=_stop_sequences(body.get("stop_sequences")),
    )


def _stop_sequences(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return list(value)
    raise FieldError("stop_sequences", "Input should be a valid list of strings")


def _message(
    call: ChatCall,
    content: list[dict[str, str]],
    stop_reason: str,
    stop_sequence: str | None,
    output_tokens: int,
    response_id: str,
) -> dict[str, object]:
    return {
        "id": response_id,
        "type": "message",
        "role": "assistant",
        "model": call.model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": {
            "input_tokens": call.prompt_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "service_tier": "standard",
        },
    }
