"""AWS Bedrock Converse, as the emulator speaks it: checks, replies, error shapes.

``POST /model/{modelId}/converse``, and ``/converse-stream`` for the same reply as AWS
event-stream messages (:mod:`emulator.bedrock.stream`). Requests must carry a SigV4
``Authorization`` header scoped to the ``bedrock`` service and an ``X-Amz-Date``; the
emulator checks their shape, not the signature, since it never sees the raw bytes that
were signed.
Request bodies are read by :mod:`emulator.bedrock.parse`.

Errors are Bedrock's: the exception's name in the ``x-amzn-ErrorType`` header, and a
body holding only its ``message``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from emulator.base import ChatCall, WireError, retry_after_header
from emulator.bedrock import eventstream, stream
from emulator.bedrock.parse import parse_request
from emulator.fields import FieldError
from emulator.generate import Reply, estimate_tokens

SERVICE = "bedrock"
ALGORITHM = "AWS4-HMAC-SHA256"
ERROR_TYPE_HEADER = "x-amzn-ErrorType"
# What Bedrock appends to the exception name in ERROR_TYPE_HEADER.
_ERROR_TYPE_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/"
GUARDRAIL_TEXT = "Sorry, the model cannot answer this question."

# "Credential=AKID/20250102/us-east-1/bedrock/aws4_request, SignedHeaders=a;b, Signature=hex"
_AUTHORIZATION = re.compile(
    r"^Credential=(?P<key>[^/\s]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/(?P<service>[^/]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=(?P<sig>[0-9a-f]{64})$"
)
_AMZ_DATE = re.compile(r"^(?P<date>\d{8})T\d{6}Z$")

# Bedrock's exception for each fault status. AWS never answers 529, so that fault
# arrives as Bedrock's own overload signal, a 503.
_STATUS_ERRORS: dict[int, tuple[int, str, str]] = {
    408: (408, "ModelTimeoutException", "Model has timed out in processing the request."),
    413: (413, "ValidationException", "Request body exceeds the maximum allowed size."),
    429: (429, "ThrottlingException", "Too many requests, please wait before trying again."),
    500: (500, "InternalServerException", "The server encountered an internal error."),
    502: (502, "ServiceUnavailableException", "Bad gateway."),
    503: (503, "ServiceUnavailableException", "Service is temporarily unavailable."),
    504: (504, "ModelTimeoutException", "Model has timed out in processing the request."),
    529: (503, "ServiceUnavailableException", "Service is temporarily unavailable."),
}


class BedrockWire:
    name = "bedrock"
    request_id_header = "x-amzn-RequestId"
    id_prefix = "converse-"
    # The streaming route names its operation in a path variable, so parse can tell it.
    routes: tuple[str, ...] = (
        "/model/{model}/converse",
        "/model/{model}/{operation:converse-stream}",
    )
    stream_content_type = eventstream.CONTENT_TYPE

    def check_headers(self, headers: Mapping[str, str]) -> None:
        authorization = headers.get("authorization", "")
        if not authorization:
            raise _forbidden("MissingAuthenticationTokenException", "Missing Authentication Token")
        algorithm, _, fields = authorization.partition(" ")
        match = _AUTHORIZATION.match(fields.strip())
        if algorithm != ALGORITHM or match is None:
            raise _forbidden(
                "IncompleteSignatureException",
                f"Authorization header requires {ALGORITHM} with Credential, SignedHeaders"
                " and Signature.",
            )
        if match["service"] != SERVICE:
            raise _forbidden(
                "InvalidSignatureException",
                f"Credential should be scoped to correct service: '{SERVICE}'.",
            )
        signed = set(match["signed"].split(";"))
        date = _AMZ_DATE.match(headers.get("x-amz-date", ""))
        if date is None or not {"host", "x-amz-date"} <= signed:
            raise _forbidden(
                "IncompleteSignatureException",
                "Authorization header requires a signed, well-formed X-Amz-Date header.",
            )
        if date["date"] != match["date"]:
            raise _forbidden(
                "InvalidSignatureException",
                "Date in Credential scope does not match YYYYMMDD from X-Amz-Date.",
            )
        if "x-amz-security-token" in headers and "x-amz-security-token" not in signed:
            raise _forbidden(
                "InvalidSignatureException", "The security token must be a signed header."
            )

    def parse(self, body: object, path: Mapping[str, str]) -> ChatCall:
        if not isinstance(body, dict):
            raise WireError(400, "ValidationException", "Malformed input request, not JSON.")
        try:
            streaming = path.get("operation") == "converse-stream"
            return parse_request(body, path.get("model", ""), stream=streaming)
        except FieldError as exc:
            raise WireError(400, "ValidationException", _validation_message(exc)) from exc

    def context_window_error(self, call: ChatCall, limit: int) -> WireError:
        return WireError(400, "ValidationException", "Input is too long for requested model.")

    def status_error(self, status: int, retry_after_s: float | None = None) -> WireError:
        rendered, error_type, message = _STATUS_ERRORS[status]
        return WireError(rendered, error_type, message, retry_after_s=retry_after_s)

    def error_body(self, error: WireError, request_id: str) -> dict[str, object]:
        return {"message": error.message}

    def error_headers(self, error: WireError) -> dict[str, str]:
        # Bedrock itself sends no retry-after; the emulator keeps its retry_after_s
        # control, and the adapter honours the header when a proxy in front adds one.
        error_type = f"{error.error_type}:{_ERROR_TYPE_NAMESPACE}"
        return {**retry_after_header(error), ERROR_TYPE_HEADER: error_type}

    def success_body(
        self, call: ChatCall, reply: Reply, response_id: str, created: int
    ) -> dict[str, object]:
        content: list[dict[str, object]] = []
        if reply.text or reply.tool_call is None:
            content.append({"text": reply.text})
        if reply.tool_call is not None:
            tool = reply.tool_call
            content.append(
                {"toolUse": {"toolUseId": tool.call_id, "name": tool.name, "input": tool.arguments}}
            )
        return _converse(call, content, reply.stop, reply.output_tokens, reply.cached_tokens)

    def stream_frames(
        self, call: ChatCall, reply: Reply, response_id: str, created: int
    ) -> list[bytes]:
        # The wire never sees the latency the server sampled; 0 keeps the member present.
        metadata = {
            "usage": _usage(call, reply.output_tokens, reply.cached_tokens),
            "metrics": {"latencyMs": 0},
        }
        return stream.frames(reply, metadata)

    def filtered_body(self, call: ChatCall, response_id: str, created: int) -> dict[str, object]:
        tokens = estimate_tokens(GUARDRAIL_TEXT)
        return _converse(call, [{"text": GUARDRAIL_TEXT}], "guardrail_intervened", tokens, 0)


def _forbidden(error_type: str, message: str) -> WireError:
    return WireError(403, error_type, message)


def _validation_message(exc: FieldError) -> str:
    return f"1 validation error detected: Value at '{exc.path}' failed: {exc.problem}"


def _converse(
    call: ChatCall,
    content: list[dict[str, object]],
    stop_reason: str,
    output_tokens: int,
    cached_tokens: int,
) -> dict[str, object]:
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason,
        "usage": _usage(call, output_tokens, cached_tokens),
        # The wire never sees the latency the server sampled; 0 keeps the member present.
        "metrics": {"latencyMs": 0},
    }


def _usage(call: ChatCall, output_tokens: int, cached_tokens: int) -> dict[str, int]:
    cached = min(cached_tokens, call.prompt_tokens)
    usage: dict[str, int] = {
        # Bedrock's inputTokens leaves out the tokens read from (or written to) the cache.
        "inputTokens": call.prompt_tokens - cached,
        "outputTokens": output_tokens,
        "totalTokens": call.prompt_tokens + output_tokens,
    }
    if cached:
        # Present only when caching was in play, as Bedrock does.
        usage |= {"cacheReadInputTokens": cached, "cacheWriteInputTokens": 0}
    return usage
