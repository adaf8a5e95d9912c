import re
from datetime import UTC, datetime
from itertools import pairwise

import httpx
import pytest

from adapters import errors as errors_module
from adapters.errors import (
    ACTION_BY_KIND,
    ALL_ERRORS,
    AuthenticationFailed,
    ContentFiltered,
    ContextWindowExceeded,
    ErrorAction,
    InvalidRequest,
    MalformedResponse,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    UnsupportedFeature,
)
from adapters.retry_after import parse_retry_after
from adapters.status import error_for_status
from schemas.events import ErrorInfo

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_kinds_are_stable_unique_snake_case() -> None:
    kinds = [cls.kind for cls in ALL_ERRORS]
    assert len(set(kinds)) == len(kinds)
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", kind) for kind in kinds)
    assert RateLimited.kind == "rate_limited"


@pytest.mark.parametrize(
    ("cls", "action"),
    [
        (RateLimited, "retry"),
        (ProviderTimeout, "retry"),
        (ProviderUnavailable, "retry"),
        (ProviderConnectionError, "retry"),
        (MalformedResponse, "retry"),
        (ContextWindowExceeded, "next_model"),
        (ContentFiltered, "give_up"),
        (AuthenticationFailed, "next_model"),
        (InvalidRequest, "give_up"),
        (UnsupportedFeature, "next_model"),
    ],
)
def test_actions_and_the_retryable_flag_that_follows(
    cls: type[ProviderError], action: ErrorAction
) -> None:
    assert issubclass(cls, ProviderError)
    assert cls.action == action
    error = cls("m", provider="p")
    assert error.action == action
    assert error.retryable is (action == "retry")
    assert ACTION_BY_KIND[cls.kind] == action


def _docstring_table(doc: str) -> dict[str, tuple[str, str]]:
    """``{class: (kind, action)}`` from the simple reST table in a docstring."""
    lines = doc.splitlines()
    borders = [i for i, line in enumerate(lines) if re.fullmatch(r"=+( +=+)+", line)]
    assert len(borders) == 3, "expected one simple table: top, header rule, bottom"
    # Column starts are where the runs of '=' begin in the border line.
    starts = [m.start() for m in re.finditer(r"=+", lines[borders[0]])]
    header = [lines[borders[0] + 1][a:b].strip() for a, b in pairwise(starts)]
    assert header == ["class", "kind", "action"]
    rows: dict[str, tuple[str, str]] = {}
    for line in lines[borders[1] + 1 : borders[2]]:
        if not line.strip() or line.startswith(" "):
            continue  # a continuation line of the row above
        cells = [line[a:b].strip() for a, b in pairwise(starts)]
        assert cells[0] not in rows, f"{cells[0]} appears twice in the table"
        rows[cells[0]] = (cells[1], cells[2])
    return rows


def test_the_docstring_table_matches_the_classes() -> None:
    table = _docstring_table(errors_module.__doc__ or "")
    classes = {cls.__name__: (cls.kind, cls.action) for cls in ALL_ERRORS}
    assert table == classes


def test_the_table_parser_sees_a_drifted_row() -> None:
    doc = errors_module.__doc__ or ""
    drifted = doc.replace(
        "AuthenticationFailed       authentication_failed  next_model",
        "AuthenticationFailed       authentication_failed  give_up   ",
    )
    assert drifted != doc
    assert _docstring_table(drifted)["AuthenticationFailed"] == ("authentication_failed", "give_up")


def test_connection_error_is_a_kind_of_unavailable() -> None:
    error = ProviderConnectionError("refused", provider="p")
    assert isinstance(error, ProviderUnavailable)
    assert error.kind == "connection_error"


def test_attributes_str_and_error_info() -> None:
    error = RateLimited(
        "slow down", provider="openai", status_code=429, provider_request_id="r1", retry_after_s=2.0
    )
    assert (error.provider, error.status_code, error.provider_request_id) == ("openai", 429, "r1")
    assert str(error) == "openai 429 rate_limited: slow down"
    assert error.to_error_info() == ErrorInfo(
        kind="rate_limited", message=str(error), status_code=429, retry_after_s=2.0
    )
    bare = ProviderTimeout("late", provider="a")
    assert (bare.status_code, bare.provider_request_id, bare.retry_after_s) == (None, None, None)
    assert str(bare) == "a timeout: late"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "5"}, 5.0),
        ({"retry-after": " 1.5 "}, 1.5),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after": "3", "retry-after-ms": "2500"}, 2.5),
        ({"retry-after": "Sat, 01 Mar 2025 12:00:30 GMT"}, 30.0),
        ({"retry-after": "Sat, 01 Mar 2025 11:59:00 GMT"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after-ms": "nan", "retry-after": "4"}, 4.0),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, now=NOW) == expected


def test_parse_retry_after_header_names_are_case_insensitive_with_httpx() -> None:
    assert parse_retry_after(httpx.Headers({"Retry-After": "3"})) == 3.0


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, InvalidRequest),
        (401, AuthenticationFailed),
        (403, AuthenticationFailed),
        (404, InvalidRequest),
        (408, ProviderTimeout),
        (413, ContextWindowExceeded),
        (422, InvalidRequest),
        (429, RateLimited),
        (500, ProviderUnavailable),
        (503, ProviderUnavailable),
        (504, ProviderTimeout),
        (529, ProviderUnavailable),
        (302, MalformedResponse),
    ],
)
def test_error_for_status(status: int, expected: type[ProviderError]) -> None:
    assert error_for_status(status) is expected
