"""Dead letters as OpenAI errors: every reason maps, and the SDK reacts to each as meant."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, get_args

import httpx2
import openai
import orjson
import pytest
from openai.types import ErrorObject
from openai.types.chat import ChatCompletionChunk, ChatCompletionUserMessageParam

from adapters.errors import AuthenticationFailed, ContentFiltered, ContextWindowExceeded
from routeyard.front.openai_errors import OpenAIError, error_for_dead_letter, error_frame
from routeyard.front.openai_response import chunk_body
from schemas.chunks import ChunkEvent
from schemas.events import DeadLetter, DeadLetterReason, ErrorInfo, LimitInfo
from tests.routeyard.front.openai_sdk import fits, sdk_client

USER: ChatCompletionUserMessageParam = {"role": "user", "content": "hi"}


def letter(reason: DeadLetterReason, **fields: Any) -> DeadLetter:
    base: dict[str, Any] = {
        "request_id": "ry-42",
        "tenant": "acme",
        "stage": "dispatch",
        "reason": reason,
        "detail": f"{reason} after 3 attempts: small-model unavailable x3",
    }
    return DeadLetter.model_validate(base | fields)


def upstream(kind: str, message: str = "provider said no") -> ErrorInfo:
    return ErrorInfo(kind=kind, message=message, status_code=400)


EXPECTED: dict[DeadLetterReason, tuple[int, str]] = {
    "invalid_json": (400, "invalid_json"),
    "schema_invalid": (400, "schema_invalid"),
    "unknown_route": (404, "model_not_found"),
    "unknown_model": (404, "model_not_found"),
    "no_route": (400, "no_route"),
    "permanent_error": (400, "invalid_request"),
    "attempts_exhausted": (503, "attempts_exhausted"),
    "retry_after_too_long": (503, "retry_after_too_long"),
    "deadline_exceeded": (504, "deadline_exceeded"),
    "request_too_large": (413, "request_too_large"),
    "budget_exceeded": (429, "budget_exceeded"),
    "rate_limited": (429, "rate_limit_exceeded"),
    "no_capable_model": (400, "no_capable_model"),
    "stream_interrupted": (502, "stream_interrupted"),
    "internal_error": (500, "internal_error"),
    "quality_failed": (502, "quality_failed"),
    "pii_blocked": (400, "pii_blocked"),
    "context_too_long": (400, "context_length_exceeded"),
}


@pytest.mark.parametrize("reason", get_args(DeadLetterReason))
def test_every_reason_maps_to_an_openai_error_naming_the_request(
    reason: DeadLetterReason,
) -> None:
    err = error_for_dead_letter(letter(reason))
    assert (err.status, err.code) == EXPECTED[reason]
    assert fits(err.body()["error"], ErrorObject) == []
    assert "ry-42" in err.message
    if err.status < 429:
        assert err.type == "invalid_request_error"
    if err.status >= 500:
        assert err.type == "server_error"


def test_the_expectations_cover_every_reason() -> None:
    assert set(EXPECTED) == set(get_args(DeadLetterReason))


def test_a_permanent_error_says_what_the_provider_objected_to() -> None:
    filtered = error_for_dead_letter(
        letter("permanent_error", last_error=upstream(ContentFiltered.kind))
    )
    assert (filtered.status, filtered.code) == (400, "content_filter")
    too_long = error_for_dead_letter(
        letter("permanent_error", last_error=upstream(ContextWindowExceeded.kind))
    )
    assert (too_long.status, too_long.code, too_long.param) == (
        400,
        "context_length_exceeded",
        "messages",
    )
    other = error_for_dead_letter(letter("permanent_error", last_error=upstream("invalid_request")))
    assert (other.status, other.code) == (400, "invalid_request")
    assert "small-model unavailable x3" in other.message  # the detail says what happened


def test_our_upstream_credentials_failing_is_a_bad_gateway_and_keeps_the_key_out() -> None:
    refused = letter(
        "permanent_error",
        detail="authentication_failed from small-model: Incorrect API key sk-ab***yz",
        last_error=upstream(AuthenticationFailed.kind, "Incorrect API key sk-ab***yz"),
    )
    err = error_for_dead_letter(refused)
    assert (err.status, err.code, err.headers) == (
        502,
        "upstream_authentication_failed",
        {"x-should-retry": "false"},
    )
    assert "sk-ab" not in err.message and "ry-42" in err.message


def test_rate_limits_say_when_to_come_back() -> None:
    info = LimitInfo(kind="requests_per_minute", limit=Decimal(60), retry_after_s=2.301)
    err = error_for_dead_letter(letter("rate_limited", limit=info))
    assert err.headers == {"retry-after": "3", "retry-after-ms": "2301"}
    slow = letter(
        "retry_after_too_long",
        last_error=ErrorInfo(kind="rate_limited", message="429", retry_after_s=600.0),
    )
    assert error_for_dead_letter(slow).headers["retry-after"] == "600"


def test_an_internal_error_names_the_request_but_not_our_code() -> None:
    err = error_for_dead_letter(
        letter("internal_error", request_id=None, detail="KeyError: 'x' in streams/triage.py"),
        request_id="ry-7",
    )
    assert "streams/triage.py" not in err.message and "ry-7" in err.message


def answer_with(err: OpenAIError, calls: list[int]) -> Any:
    def handler(_: httpx2.Request) -> httpx2.Response:
        calls.append(1)
        return httpx2.Response(err.status, json=err.body(), headers=err.headers)

    return handler


@pytest.mark.parametrize(
    ("reason", "fields", "sdk_error", "sdk_tries"),
    [
        ("unknown_route", {}, openai.NotFoundError, 1),
        ("no_capable_model", {}, openai.BadRequestError, 1),
        ("request_too_large", {}, openai.APIStatusError, 1),
        # Budget: the period ends in an hour, past the SDK's one-minute patience.
        (
            "budget_exceeded",
            {"limit": LimitInfo(kind="budget", limit=Decimal(5), retry_after_s=3600.0)},
            openai.RateLimitError,
            1,
        ),
        # ... and with no end known, x-should-retry tells the SDK not to try again.
        (
            "budget_exceeded",
            {"limit": LimitInfo(kind="budget", limit=Decimal(5))},
            openai.RateLimitError,
            1,
        ),
        # Rate limit: the SDK waits the Retry-After (10 ms here) and tries again, twice.
        (
            "rate_limited",
            {"limit": LimitInfo(kind="tokens_per_minute", limit=Decimal(9), retry_after_s=0.01)},
            openai.RateLimitError,
            3,
        ),
        # routeyard already retried across the route's models: the SDK should not again.
        ("attempts_exhausted", {}, openai.InternalServerError, 1),
        ("deadline_exceeded", {}, openai.InternalServerError, 1),
    ],
)
def test_the_sdk_raises_the_right_error_and_retries_only_where_it_can_help(
    reason: DeadLetterReason,
    fields: dict[str, Any],
    sdk_error: type[openai.APIStatusError],
    sdk_tries: int,
) -> None:
    err = error_for_dead_letter(letter(reason, **fields))
    calls: list[int] = []
    client = sdk_client(answer_with(err, calls), max_retries=2)
    with pytest.raises(sdk_error) as raised:
        client.chat.completions.create(model="auto", messages=[USER])
    assert raised.value.status_code == err.status
    assert raised.value.code == err.code and "ry-42" in raised.value.message
    assert len(calls) == sdk_tries


def test_a_stream_cut_by_a_dead_letter_raises_in_the_sdk_after_the_text_so_far() -> None:
    piece = ChunkEvent(
        request_id="ry-42", call_id="c", attempt=1, seq=0, model="small-model", text="Once upon"
    )
    frames = (
        b"data: "
        + orjson.dumps(chunk_body(piece, model_label="auto", created=1, first=True))
        + b"\n\n"
        + error_frame(letter("stream_interrupted"))
    )
    assert frames.endswith(b"\n\n") and b"[DONE]" not in frames
    client = sdk_client(
        lambda _: httpx2.Response(
            200, content=frames, headers={"content-type": "text/event-stream"}
        )
    )
    seen: list[str | None] = []
    stream = client.chat.completions.create(model="auto", messages=[USER], stream=True)
    with pytest.raises(openai.APIError) as raised:
        for part in stream:
            assert isinstance(part, ChatCompletionChunk)
            seen.append(part.choices[0].delta.content)
    assert seen == ["Once upon"]
    assert "ry-42" in raised.value.message
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["code"] == "stream_interrupted"


def test_an_error_frame_takes_an_error_made_elsewhere_too() -> None:
    timeout = OpenAIError(504, "no outcome in time (request_id ry-9)", "timeout", None, "late")
    frame = error_frame(timeout)
    assert frame.startswith(b"event: error\ndata: ") and frame.endswith(b"\n\n")
    assert orjson.loads(frame.split(b"data: ", 1)[1]) == timeout.body()
