"""OpenAI Chat Completions, as the emulator speaks it: checks, replies, error shapes."""

from __future__ import annotations

import math
from collections.abc import Mapping

from emulator.generate import Reply, estimate_tokens
from emulator.wire import (
    ChatCall,
    FieldError,
    WireError,
    optional_count,
    optional_number,
    text_content,
    unknown_fields,
)

# Fields OpenAI accepts that the emulator tolerates; anything else is rejected as
# OpenAI does, which catches adapters sending misspelt or invented parameters.
_ALLOWED = frozenset(
    {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p",
        "stop", "n", "user", "seed", "presence_penalty", "frequency_penalty", "metadata",
        "store", "response_format", "logit_bias", "logprobs", "top_logprobs", "service_tier",
        "stream",
    }
)  # fmt: skip
_ROLES = frozenset({"system", "developer", "user", "assistant"})
_MAX_STOP = 4

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


class OpenAIWire:
    name = "openai"
    request_id_header = "x-request-id"
    id_prefix = "chatcmpl-"
    routes: tuple[str, ...] = ("/v1/chat/completions",)

    def check_headers(self, headers: Mapping[str, str]) -> None:
        scheme, _, key = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise WireError(
                401,
                "invalid_request_error",
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )

    def parse(self, body: object, path: Mapping[str, str]) -> ChatCall:
        if not isinstance(body, dict):
            raise WireError(
                400, "invalid_request_error", "We could not parse the JSON body of your request."
            )
        try:
            return _parse(body)
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

    def status_error(self, status: int) -> WireError:
        error_type, message, code = _STATUS_ERRORS[status]
        return WireError(status, error_type, message, code=code)

    def error_body(self, error: WireError, request_id: str) -> dict[str, object]:
        return {
            "error": {
                "message": error.message,
                "type": error.error_type,
                "param": error.param,
                "code": error.code,
            }
        }

    def retry_after_headers(self, seconds: float) -> dict[str, str]:
        # OpenAI sends whole seconds and a precise millisecond value alongside.
        return {
            "retry-after": str(math.ceil(seconds)),
            "retry-after-ms": str(round(seconds * 1000)),
        }

    def success_body(
        self, call: ChatCall, reply: Reply, response_id: str, created: int
    ) -> dict[str, object]:
        finish = "length" if reply.stop == "max_tokens" else "stop"
        return _completion(call, reply.text, finish, reply.output_tokens, response_id, created)

    def filtered_body(self, call: ChatCall, response_id: str, created: int) -> dict[str, object]:
        return _completion(call, None, "content_filter", 1, response_id, created)


def _parse(body: Mapping[str, object]) -> ChatCall:
    extra = unknown_fields(body, _ALLOWED)
    if extra:
        raise FieldError(extra[0], "Unrecognized request argument supplied")
    if body.get("stream"):
        raise FieldError("stream", "streaming is not emulated")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise FieldError("model", "you must provide a model parameter")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise FieldError("messages", "Input should be a non-empty array")
    texts: list[str] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise FieldError(f"messages[{i}].role", f"must be one of {sorted(_ROLES)}")
        texts.append(text_content(message.get("content"), f"messages[{i}].content"))
    optional_number(body, "temperature", 0.0, 2.0)
    optional_number(body, "top_p", 0.0, 1.0)
    max_tokens = optional_count(body, "max_completion_tokens") or optional_count(body, "max_tokens")
    return ChatCall(
        model=model,
        prompt=texts[-1],
        prompt_tokens=sum(estimate_tokens(t) for t in texts),
        max_tokens=max_tokens,
        stop=_stop(body.get("stop")),
    )


def _stop(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if (
        isinstance(value, list)
        and len(value) <= _MAX_STOP
        and all(isinstance(s, str) for s in value)
    ):
        return list(value)
    raise FieldError("stop", f"Input should be a string or an array of up to {_MAX_STOP} strings")


def _completion(
    call: ChatCall,
    content: str | None,
    finish: str,
    output_tokens: int,
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
                "message": {
                    "role": "assistant",
                    "content": content,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": {
            "prompt_tokens": call.prompt_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": call.prompt_tokens + output_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_emulator",
    }
