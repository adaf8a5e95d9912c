"""Ollama's native chat API, as the emulator speaks it: ``POST /api/chat``, no auth.

Replies follow the ollama package's ``ChatResponse``, streamed as one per line unless
the body says ``"stream": false`` (see :mod:`emulator.ollama.stream`); errors are Ollama's
``{"error": "..."}`` bodies. Ollama has no rate limits or overload status of its
own: for those injected faults the emulator renders what a proxy or ollama.com would.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from emulator.base import ChatCall, WireError, retry_after_header
from emulator.fields import FieldError
from emulator.generate import Reply
from emulator.ollama import stream
from emulator.ollama.parse import parse_request

# Nominal speeds for the duration fields: they are informational, never waited for.
_PROMPT_NS_PER_TOKEN = 200_000
_OUTPUT_NS_PER_TOKEN = 20_000_000
_LOAD_NS = 5_000_000
# A small local model declining; Ollama has no safety filter to flag it.
REFUSAL = "I can't help with that."

_STATUS_MESSAGES: dict[int, str] = {
    413: "request body too large",
    429: "too many requests, please try again later",
    500: "llama runner process has terminated: exit status 2",
    502: "bad gateway",
    # Ollama's own reply when OLLAMA_MAX_QUEUE is full.
    503: "server busy, please try again.  maximum pending requests exceeded",
    504: "gateway timeout",
    529: "server overloaded, please try again later",
}


class OllamaWire:
    name = "ollama"
    # Ollama sends no request id; the emulator's goes where a proxy would put one.
    request_id_header = "x-request-id"
    id_prefix = ""
    routes: tuple[str, ...] = ("/api/chat",)
    stream_content_type = stream.CONTENT_TYPE

    def check_headers(self, headers: Mapping[str, str]) -> None:
        """A local server takes any request; a key, if sent, is not checked."""

    def parse(self, body: object, path: Mapping[str, str]) -> ChatCall:
        if not isinstance(body, dict):
            raise WireError(400, "bad_request", "invalid request body: expected a JSON object")
        try:
            return parse_request(body)
        except FieldError as exc:
            raise WireError(400, "bad_request", str(exc)) from exc

    def context_window_error(self, call: ChatCall, limit: int) -> WireError:
        over = call.prompt_tokens - limit
        return WireError(
            400, "bad_request", f"prompt too long; exceeded max context length by {over} tokens"
        )

    def status_error(self, status: int, retry_after_s: float | None = None) -> WireError:
        return WireError(status, "status", _STATUS_MESSAGES[status], retry_after_s=retry_after_s)

    def error_body(self, error: WireError, request_id: str) -> dict[str, object]:
        return {"error": error.message}

    def error_headers(self, error: WireError) -> dict[str, str]:
        return retry_after_header(error)

    def success_body(
        self, call: ChatCall, reply: Reply, response_id: str, created: int
    ) -> dict[str, object]:
        message: dict[str, object] = {"role": "assistant", "content": reply.text}
        if reply.tool_call is not None:
            function = {"name": reply.tool_call.name, "arguments": reply.tool_call.arguments}
            message["tool_calls"] = [{"function": function}]
        return _chat(call, message, _done_reason(reply), reply.output_tokens, created)

    def stream_frames(
        self, call: ChatCall, reply: Reply, response_id: str, created: int
    ) -> list[bytes]:
        message: dict[str, object] = {"role": "assistant", "content": ""}
        last = _chat(call, message, _done_reason(reply), reply.output_tokens, created)
        head = {"model": last["model"], "created_at": last["created_at"]}
        return stream.frames(reply, head, last)

    def filtered_body(self, call: ChatCall, response_id: str, created: int) -> dict[str, object]:
        message: dict[str, object] = {"role": "assistant", "content": REFUSAL}
        return _chat(call, message, "stop", len(REFUSAL.split()), created)


def _done_reason(reply: Reply) -> str:
    # A tool call or a stop sequence both end as "stop" in Ollama's terms.
    return "length" if reply.stop == "max_tokens" else "stop"


def _chat(
    call: ChatCall, message: dict[str, object], done_reason: str, output_tokens: int, created: int
) -> dict[str, object]:
    prompt_ns = call.prompt_tokens * _PROMPT_NS_PER_TOKEN
    output_ns = output_tokens * _OUTPUT_NS_PER_TOKEN
    return {
        "model": call.model,
        "created_at": datetime.fromtimestamp(created, UTC).isoformat().replace("+00:00", "Z"),
        "message": message,
        "done": True,
        "done_reason": done_reason,
        "total_duration": _LOAD_NS + prompt_ns + output_ns,
        "load_duration": _LOAD_NS,
        "prompt_eval_count": call.prompt_tokens,
        "prompt_eval_duration": prompt_ns,
        "eval_count": output_tokens,
        "eval_duration": output_ns,
    }
