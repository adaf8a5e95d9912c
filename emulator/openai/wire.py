"""OpenAI Chat Completions, as the emulator speaks it: checks, replies, error shapes.

One wire class serves the dialects that differ on the wire, each an instance configured
by flags rather than a subclass: :func:`openai_wire` (``/v1/chat/completions``, bearer
auth; what OpenAI and most compatible servers speak), :func:`azure_wire` (the
deployment in the path, an ``api-key`` header and a required ``api-version`` query
parameter) and :func:`perplexity_wire` (no tools; answers carry ``citations`` and
``search_results``). Request parsing lives in :mod:`emulator.openai.parse`, streamed
replies in :mod:`emulator.openai.stream`.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from emulator.base import ChatCall, WireError, retry_after_header
from emulator.fields import FieldError
from emulator.generate import Reply
from emulator.openai.parse import parse_request
from emulator.openai.stream import chunk_frames, finish_reason

_STATUS_ERRORS: dict[int, tuple[str, str, str | None]] = {
    413: ("invalid_request_error", "Request body too large.", "request_too_large"),
    429: ("requests", "Rate limit reached for requests. Please try again later.",
          "rate_limit_exceeded"),
    500: ("server_error", "The server had an error while processing your request. "
          "Sorry about that!", None),
    502: ("server_error", "Bad gateway.", None),
    503: ("server_error", "The engine is currently overloaded, please try again later.", None),
    504: ("server_error", "Gateway timeout. The request took too long to complete.", None),
    529: ("server_error", "The engine is currently overloaded, please try again later.", None),
}  # fmt: skip
_API_VERSION = "api-version"
# What every completion and chunk says about the backend that served it.
_SERVED_BY = {"service_tier": "default", "system_fingerprint": "fp_emulator"}
_NO_BEARER = (
    "You didn't provide an API key. You need to provide your API key in an "
    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
_NO_API_KEY = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
    "provide a valid key for an active subscription and use a correct regional API "
    "endpoint for your resource."
)


class OpenAIWire:
    stream_content_type = "text/event-stream"

    def __init__(
        self,
        name: str = "openai",
        routes: tuple[str, ...] = ("/v1/chat/completions",),
        *,
        api_key_header: bool = False,
        require_api_version: bool = False,
        request_id_header: str = "x-request-id",
        tools: bool = True,
        citations: bool = False,
    ) -> None:
        self.name = name
        self.routes = routes
        self.request_id_header = request_id_header
        self.id_prefix = "chatcmpl-"
        self._api_key_header = api_key_header
        self._require_api_version = require_api_version
        self._tools = tools
        self._citations = citations

    def check_headers(self, headers: Mapping[str, str]) -> None:
        if self._api_key_header:
            if not headers.get("api-key", "").strip():
                raise WireError(401, "invalid_request_error", _NO_API_KEY, code="401")
            return
        scheme, _, key = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise WireError(401, "invalid_request_error", _NO_BEARER)

    def parse(self, body: object, path: Mapping[str, str]) -> ChatCall:
        # The server passes query parameters in ``path`` too; path parameters win.
        if self._require_api_version and not path.get(_API_VERSION):
            # What Azure answers when the api-version query parameter is missing.
            raise WireError(404, "invalid_request_error", "Resource not found", code="404")
        if not isinstance(body, dict):
            raise WireError(
                400, "invalid_request_error", "We could not parse the JSON body of your request."
            )
        try:
            return parse_request(body, model=path.get("model"), tools=self._tools)
        except FieldError as exc:
            raise WireError(
                400, "invalid_request_error", f"Invalid '{exc.path}': {exc.problem}",
                param=exc.path,
            ) from exc  # fmt: skip

    def context_window_error(self, call: ChatCall, limit: int) -> WireError:
        return WireError(
            400,
            "invalid_request_error",
            f"This model's maximum context length is {limit} tokens. However, your messages "
            f"resulted in {call.prompt_tokens} tokens. Please reduce the length of the messages.",
            param="messages",
            code="context_length_exceeded",
        )

    def status_error(self, status: int, retry_after_s: float | None = None) -> WireError:
        error_type, message, code = _STATUS_ERRORS[status]
        return WireError(status, error_type, message, code=code, retry_after_s=retry_after_s)

    def error_body(self, error: WireError, request_id: str) -> dict[str, object]:
        return {
            "error": {
                "message": error.message,
                "type": error.error_type,
                "param": error.param,
                "code": error.code,
            }
        }

    def error_headers(self, error: WireError) -> dict[str, str]:
        if error.retry_after_s is None:
            return {}
        # OpenAI sends whole seconds and a precise millisecond value alongside.
        milliseconds = str(round(error.retry_after_s * 1000))
        return {**retry_after_header(error), "retry-after-ms": milliseconds}

    def success_body(
        self, call: ChatCall, reply: Reply, response_id: str, created: int
    ) -> dict[str, object]:
        message: dict[str, object] = {"role": "assistant", "content": reply.text}
        if reply.tool_call is not None:
            tool = reply.tool_call
            # OpenAI sends arguments as a JSON-encoded string, not an object.
            arguments = orjson.dumps(tool.arguments).decode()
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": tool.call_id,
                    "type": "function",
                    "function": {"name": tool.name, "arguments": arguments},
                }
            ]
        body = _completion(call, message, finish_reason(reply), reply, response_id, created)
        if self._citations:
            body.update(_sources(call))
        return body

    def filtered_body(self, call: ChatCall, response_id: str, created: int) -> dict[str, object]:
        filtered = Reply("", 1, "end_turn")
        message: dict[str, object] = {"role": "assistant", "content": None}
        return _completion(call, message, "content_filter", filtered, response_id, created)

    def stream_frames(
        self, call: ChatCall, reply: Reply, response_id: str, created: int
    ) -> list[bytes]:
        base: dict[str, object] = {
            "id": response_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": call.model,
            **_SERVED_BY,
        }
        sources = _sources(call) if self._citations else None
        return chunk_frames(call, reply, base, _usage(call, reply), sources=sources)


def openai_wire() -> OpenAIWire:
    return OpenAIWire()


def azure_wire() -> OpenAIWire:
    return OpenAIWire(
        "azure",
        ("/openai/deployments/{model}/chat/completions",),
        api_key_header=True,
        require_api_version=True,
        request_id_header="apim-request-id",
    )


def perplexity_wire() -> OpenAIWire:
    return OpenAIWire("perplexity", ("/chat/completions",), tools=False, citations=True)


def _sources(call: ChatCall) -> dict[str, object]:
    # Stable per model, so a test can predict them.
    urls = [f"https://example.org/{call.model}/source-{i}" for i in (1, 2)]
    return {
        "citations": urls,
        "search_results": [
            {"title": f"Source {i}", "url": url, "date": "2025-01-01"}
            for i, url in enumerate(urls, 1)
        ],
    }


def _completion(
    call: ChatCall,
    message: dict[str, object],
    finish: str,
    reply: Reply,
    response_id: str,
    created: int,
) -> dict[str, object]:
    return {
        "id": response_id,
        "object": "chat.completion",
        "created": created,
        "model": call.model,
        "choices": [
            {
                "index": 0,
                "message": {**message, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": _usage(call, reply),
        **_SERVED_BY,
    }


def _usage(call: ChatCall, reply: Reply) -> dict[str, object]:
    return {
        "prompt_tokens": call.prompt_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": call.prompt_tokens + reply.output_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
