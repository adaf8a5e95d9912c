"""Google Gemini ``generateContent``, as the emulator speaks it.

Route ``/v1beta/models/{model}:generateContent`` with the key in ``x-goog-api-key``, and
its streaming twin ``:streamGenerateContent?alt=sse``, whose events are those of
:mod:`emulator.gemini.stream`.
Errors use Google's shape, ``{"error": {"code", "message", "status", "details"}}``,
with the canonical status name and, on a 429 with a retry delay, a
``google.rpc.RetryInfo`` detail. Request
bodies are read by :mod:`emulator.gemini.parse`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from emulator.base import ChatCall, WireError, retry_after_header
from emulator.fields import FieldError
from emulator.gemini.parse import parse_request
from emulator.gemini.stream import response_chunks
from emulator.generate import Reply

_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"

_STATUS_ERRORS: dict[int, tuple[str, str]] = {
    413: ("INVALID_ARGUMENT", "Request payload size exceeds the limit: 20971520 bytes."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: ("INTERNAL", "An internal error has occurred. Please retry or report in "
          "https://developers.generativeai.google/guide/troubleshooting"),
    502: ("UNAVAILABLE", "Bad Gateway"),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
    # Google has no 529; the emulator renders it as its own overload status.
    529: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
}  # fmt: skip


class GeminiWire:
    name = "gemini"
    # Gemini documents no request-id header (its answers carry responseId); this one
    # is the emulator's trace id, as on every wire.
    request_id_header = "x-request-id"
    # responseId is an opaque token with no prefix.
    id_prefix = ""
    routes: tuple[str, ...] = (
        "/v1beta/models/{model}:generateContent",
        # The method is a path parameter so that parse can tell the two routes apart.
        "/v1beta/models/{model}:{method:streamGenerateContent}",
    )
    stream_content_type = "text/event-stream"

    def check_headers(self, headers: Mapping[str, str]) -> None:
        if not headers.get("x-goog-api-key", "").strip():
            raise WireError(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to "
                "call this API.",
            )

    def parse(self, body: object, path: Mapping[str, str]) -> ChatCall:
        if not isinstance(body, dict):
            raise WireError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        stream = path.get("method") == "streamGenerateContent"
        if stream and path.get("alt") != "sse":
            # Without alt=sse Google streams one JSON array, which is not emulated.
            raise WireError(400, "INVALID_ARGUMENT", "Only alt=sse streaming is emulated.")
        try:
            return dataclasses.replace(parse_request(body, path["model"]), stream=stream)
        except FieldError as exc:
            if exc.problem.startswith("Unknown name"):
                message = f"Invalid JSON payload received. {exc.problem}"
            else:
                message = f"* GenerateContentRequest.{exc.path}: {exc.problem}"
            raise WireError(400, "INVALID_ARGUMENT", message) from exc

    def context_window_error(self, call: ChatCall, limit: int) -> WireError:
        return WireError(
            400,
            "INVALID_ARGUMENT",
            f"The input token count ({call.prompt_tokens}) exceeds the maximum number of "
            f"tokens allowed ({limit}).",
        )

    def status_error(self, status: int, retry_after_s: float | None = None) -> WireError:
        canonical, message = _STATUS_ERRORS[status]
        return WireError(status, canonical, message, retry_after_s=retry_after_s)

    def error_body(self, error: WireError, request_id: str) -> dict[str, object]:
        body: dict[str, object] = {
            "code": error.status,
            "message": error.message,
            "status": error.error_type,
        }
        if error.retry_after_s is not None:
            delay = f"{round(error.retry_after_s, 3):g}s"
            body["details"] = [{"@type": _RETRY_INFO, "retryDelay": delay}]
        return {"error": body}

    def error_headers(self, error: WireError) -> dict[str, str]:
        # Google itself puts the delay only in RetryInfo; the header is for generic
        # clients and proxies, and the adapter reads either.
        return retry_after_header(error)

    def success_body(
        self, call: ChatCall, reply: Reply, response_id: str, created: int
    ) -> dict[str, object]:
        parts: list[dict[str, object]] = []
        if reply.text:
            parts.append({"text": reply.text})
        if reply.tool_call is not None:
            # Gemini 2.x sends no call id; clients match results by function name.
            function_call = {"name": reply.tool_call.name, "args": reply.tool_call.arguments}
            parts.append({"functionCall": function_call})
        candidate: dict[str, object] = {
            "content": {"role": "model", "parts": parts},
            # A function call also finishes with STOP.
            "finishReason": "MAX_TOKENS" if reply.stop == "max_tokens" else "STOP",
        }
        return _response(call, candidate, reply.output_tokens, reply.cached_tokens, response_id)

    def stream_frames(
        self, call: ChatCall, reply: Reply, response_id: str, created: int
    ) -> list[bytes]:
        return response_chunks(self.success_body(call, reply, response_id, created))

    def filtered_body(self, call: ChatCall, response_id: str, created: int) -> dict[str, object]:
        candidate: dict[str, object] = {
            "finishReason": "SAFETY",
            "safetyRatings": [
                {
                    "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
                    "probability": "HIGH",
                    "blocked": True,
                }
            ],
        }
        return _response(call, candidate, 0, 0, response_id)


def _response(
    call: ChatCall,
    candidate: dict[str, object],
    output_tokens: int,
    cached_tokens: int,
    response_id: str,
) -> dict[str, object]:
    usage: dict[str, object] = {
        "promptTokenCount": call.prompt_tokens,
        "totalTokenCount": call.prompt_tokens + output_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": call.prompt_tokens}],
    }
    # proto3 JSON leaves zero counts out, as Google's replies do.
    if output_tokens:
        usage["candidatesTokenCount"] = output_tokens
    if cached_tokens:
        # Gemini's promptTokenCount already includes the cached part.
        usage["cachedContentTokenCount"] = min(cached_tokens, call.prompt_tokens)
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": call.model,
        "responseId": response_id,
    }
