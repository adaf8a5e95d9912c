"""Cohere Chat v2, as the emulator speaks it: ``POST /v2/chat`` with a bearer key.

Replies follow the SDK's ``V2ChatResponse`` (streamed: ``V2ChatStreamResponse`` events,
see :mod:`emulator.cohere.stream`, when the body says ``"stream": true``); errors are
Cohere's bare ``{"message": ...}`` bodies, told apart by status only.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from emulator.base import ChatCall, WireError, retry_after_header
from emulator.cohere import stream
from emulator.cohere.parse import parse_request
from emulator.fields import FieldError
from emulator.generate import Reply

_FINISH = {
    "end_turn": "COMPLETE",
    "max_tokens": "MAX_TOKENS",
    "stop_sequence": "STOP_SEQUENCE",
    "tool_use": "TOOL_CALL",
}
# ``usage.tokens`` counts the prompt template Cohere wraps around the messages too;
# ``billed_units`` does not. A fixed size keeps the two visibly different.
TEMPLATE_TOKENS = 12

_STATUS_MESSAGES: dict[int, str] = {
    413: "request entity too large",
    429: "You are past the per minute request limit, please wait and try again later.",
    500: "internal server error, this has been reported to our developers",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
    529: "server overloaded, please try again later",
}


class CohereWire:
    name = "cohere"
    # Cohere names no request-id header; this trace id is what its responses carry.
    request_id_header = "x-debug-trace-id"
    id_prefix = ""
    routes: tuple[str, ...] = ("/v2/chat",)
    stream_content_type = stream.CONTENT_TYPE

    def check_headers(self, headers: Mapping[str, str]) -> None:
        scheme, _, key = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise WireError(401, "unauthorized", "no api key supplied")

    def parse(self, body: object, path: Mapping[str, str]) -> ChatCall:
        if not isinstance(body, dict):
            raise WireError(400, "bad_request", "invalid request: could not parse the JSON body")
        try:
            return parse_request(body)
        except FieldError as exc:
            raise WireError(400, "bad_request", f"invalid request: {exc}") from exc

    def context_window_error(self, call: ChatCall, limit: int) -> WireError:
        return WireError(
            400,
            "bad_request",
            f"too many tokens: total number of tokens in the prompt cannot exceed {limit}"
            f" - received {call.prompt_tokens}. Try using a shorter prompt.",
        )

    def status_error(self, status: int, retry_after_s: float | None = None) -> WireError:
        return WireError(status, "status", _STATUS_MESSAGES[status], retry_after_s=retry_after_s)

    def error_body(self, error: WireError, request_id: str) -> dict[str, object]:
        return {"message": error.message}

    def error_headers(self, error: WireError) -> dict[str, str]:
        headers = retry_after_header(error)
        if headers:
            # x-ratelimit-reset is Cohere's own: seconds until the limit resets.
            headers["x-ratelimit-reset"] = headers["retry-after"]
        return headers

    def success_body(
        self, call: ChatCall, reply: Reply, response_id: str, created: int
    ) -> dict[str, object]:
        message: dict[str, object] = {"role": "assistant"}
        if reply.tool_call is not None:
            call_made = reply.tool_call
            message["tool_plan"] = _tool_plan(call_made.name)
            message["tool_calls"] = [
                {
                    "id": call_made.call_id,
                    "type": "function",
                    "function": {
                        "name": call_made.name,
                        "arguments": orjson.dumps(call_made.arguments).decode(),
                    },
                }
            ]
        else:
            message["content"] = [{"type": "text", "text": reply.text}]
        return _chat(
            call,
            message,
            _FINISH[reply.stop],
            reply.output_tokens,
            reply.cached_tokens,
            response_id,
        )

    def stream_frames(
        self, call: ChatCall, reply: Reply, response_id: str, created: int
    ) -> list[bytes]:
        end = {
            "finish_reason": _FINISH[reply.stop],
            "usage": _usage(call, reply.output_tokens, reply.cached_tokens),
        }
        plan = _tool_plan(reply.tool_call.name) if reply.tool_call is not None else ""
        return stream.frames(reply, response_id, plan, end)

    def filtered_body(self, call: ChatCall, response_id: str, created: int) -> dict[str, object]:
        # The finish reason the SDK documents for "a reply that was deemed toxic".
        message: dict[str, object] = {"role": "assistant", "content": []}
        return _chat(call, message, "ERROR_TOXIC", 1, 0, response_id)


def _tool_plan(tool: str) -> str:
    return f"I will call {tool}."


def _chat(
    call: ChatCall,
    message: dict[str, object],
    finish: str,
    output_tokens: int,
    cached_tokens: int,
    response_id: str,
) -> dict[str, object]:
    usage = _usage(call, output_tokens, cached_tokens)
    return {"id": response_id, "finish_reason": finish, "message": message, "usage": usage}


def _usage(call: ChatCall, output_tokens: int, cached_tokens: int) -> dict[str, object]:
    usage: dict[str, object] = {
        "billed_units": {"input_tokens": call.prompt_tokens, "output_tokens": output_tokens},
        "tokens": {
            "input_tokens": call.prompt_tokens + TEMPLATE_TOKENS,
            "output_tokens": output_tokens,
        },
    }
    if cached_tokens:
        usage["cached_tokens"] = cached_tokens
    return usage
