"""Hypothesis strategies for every valid shape of the chat vocabulary and the events.

Written by hand rather than with ``st.from_type``: hypothesis cannot see the models' Field
constraints or validators (one image source, role rules, unique tool names), so derived
strategies would mostly produce rejections. What can be read from the schemas is: the
Literal choices (a new member is covered without an edit here) and the field lists:
:func:`_build` refuses a strategy that leaves out a field of its model, so a field added
to a schema fails here first instead of going untested. Timestamps are as often left to
their default (``utcnow``, what the pipeline itself stamps) as drawn.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, TypeVar, get_args

from hypothesis import strategies as st
from hypothesis.provisional import domains
from pydantic import BaseModel

from schemas.admission import (
    AdmitEvent,
    BucketRecord,
    BudgetAlert,
    ReservationRecord,
    SpendEvent,
    TenantSnapshot,
)
from schemas.alerts import AlertDim, AlertMetric, AlertReason, AlertState, RuleAlert
from schemas.budgets import BudgetMode, Period
from schemas.cache import CacheHitKind, CacheMode, CacheTicket
from schemas.cache_events import CacheFail, CacheFill, CacheLookup
from schemas.chat import (
    ChatMessage,
    GenerationParams,
    ImageMediaType,
    ImagePart,
    ResponseFormat,
    Role,
    TextPart,
    ToolCall,
    ToolChoice,
    ToolSpec,
)
from schemas.chunks import ChunkEvent, ToolCallChunk
from schemas.config import RouteStrategy
from schemas.consensus import CallPurpose, ConsensusOutcome, VoterMiss
from schemas.context import ContextAction, ContextRecord, TokenFamily
from schemas.events import (
    MAX_DEADLINE_S,
    AdmissionMark,
    AttemptRecord,
    Classification,
    DeadLetter,
    DeadLetterReason,
    DeadLetterStage,
    DispatchEvent,
    ErrorInfo,
    EscalationStep,
    EventSource,
    FinishReason,
    LimitInfo,
    LLMRequest,
    LLMResponse,
    QualityCheck,
    QualityVerdict,
    RetryEvent,
    StreamedCall,
    TaskType,
    Tier,
    TokenUsage,
    UsageEvent,
    UsageOutcome,
)
from schemas.pii import PiiMode, PiiRedaction

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

DEFAULT: Any = object()
"""Drawn for a field to leave it out of the constructor call."""

# A large prompt is a short unit repeated: far cheaper to draw than a long random text.
# The sizes reach past a model's context and, as JSON, past the default request limit.
LARGE_PROMPT_CHARS = (50_000, 1_200_000)


def _build(draw: st.DrawFn, cls: type[M], **fields: st.SearchStrategy[Any]) -> M:
    """``cls`` from one drawn value per field; every field of ``cls`` needs a strategy.

    A field whose strategy draws :data:`DEFAULT` is left out, so its default applies.
    """
    missing = cls.model_fields.keys() - fields.keys()
    unknown = fields.keys() - cls.model_fields.keys()
    if missing or unknown:
        raise AssertionError(
            f"strategy for {cls.__name__} does not match its fields:"
            f" missing {sorted(missing)}, unknown {sorted(unknown)}"
        )
    values = {name: draw(strategy) for name, strategy in fields.items()}
    return cls(**{name: value for name, value in values.items() if value is not DEFAULT})


def _choices(literal: Any) -> st.SearchStrategy[Any]:
    return st.sampled_from(get_args(literal))


def _optional(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    return st.none() | strategy


def _rarely(
    common: st.SearchStrategy[T], rare: st.SearchStrategy[T], one_in: int
) -> st.SearchStrategy[T]:
    # one_of picks its branches about evenly; big values cost time, so they are drawn
    # rarely. A request holds a few texts: 1 in 40 makes about one request in eight large.
    return st.integers(1, one_in).flatmap(lambda i: rare if i == 1 else common)


# --- plain values -------------------------------------------------------------------------

finite_floats = st.floats(allow_nan=False, allow_infinity=False)
json_scalars = st.none() | st.booleans() | st.integers() | finite_floats | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=12), json_values, max_size=5)

# Offsets in whole minutes: what an ISO 8601 timestamp on the wire can say.
_offsets: st.SearchStrategy[tzinfo] = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(
    lambda m: timezone(timedelta(minutes=m))
)
_first, _last = datetime(1970, 1, 1), datetime(2200, 1, 1)
aware_datetimes = st.datetimes(_first, _last, timezones=st.just(UTC) | _offsets)
datetimes = st.datetimes(_first, _last) | aware_datetimes
stamps = st.just(DEFAULT) | datetimes
money = st.decimals(allow_nan=False, allow_infinity=False)
# Amounts a schema bounds at zero: reservations, spends.
costs = st.decimals(min_value=0, allow_nan=False, allow_infinity=False)
request_ids = st.from_regex(r"[A-Za-z0-9._:\-]{1,128}", fullmatch=True)
names_64 = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
counts = st.integers(min_value=0)

small_text = st.text(min_size=1, max_size=200)
large_text = st.builds(
    lambda unit, n: (unit * n)[: LARGE_PROMPT_CHARS[1]],
    st.text(min_size=1, max_size=12),
    st.integers(LARGE_PROMPT_CHARS[0], LARGE_PROMPT_CHARS[1]),
)
prompt_text = _rarely(small_text, large_text, one_in=40)


def _url(scheme: str, host: str, port: int | None, path: str, query: str, fragment: str) -> str:
    authority = host if port is None else f"{host}:{port}"
    url = f"{scheme}://{authority}/{path}"
    if query:
        url += f"?{query}"
    if fragment:
        url += f"#{fragment}"
    return url


_url_text = st.text(st.characters(codec="utf-8", exclude_characters="#?"), max_size=40)
http_urls = st.builds(
    _url,
    st.sampled_from(["http", "https"]),
    domains(max_length=60)
    | st.ip_addresses(v=4).map(str)
    | st.ip_addresses(v=6).map(lambda ip: f"[{ip}]")
    | st.sampled_from(["localhost", "bücher.example", "例え.jp"]),
    _optional(st.integers(1, 65535)),
    _url_text,
    _url_text,
    _url_text,
)

_image_bytes = _rarely(
    st.binary(min_size=1, max_size=64),
    st.builds(lambda unit, n: unit * n, st.binary(min_size=1, max_size=16), st.integers(1, 60_000)),
    one_in=8,
)
base64_data = _image_bytes.map(lambda raw: base64.b64encode(raw).decode("ascii"))


# --- the chat vocabulary ------------------------------------------------------------------


@st.composite
def text_parts(draw: st.DrawFn) -> TextPart:
    return _build(draw, TextPart, type=st.just("text"), text=prompt_text)


@st.composite
def image_parts(draw: st.DrawFn) -> ImagePart:
    by_url = draw(st.booleans())
    return _build(
        draw,
        ImagePart,
        type=st.just("image"),
        media_type=_choices(ImageMediaType),
        # Exactly one source, so both are always given: one of them as None.
        data=st.just(None) if by_url else base64_data,
        url=http_urls if by_url else st.just(None),
    )


@st.composite
def _tool_calls(draw: st.DrawFn) -> ToolCall:
    return _build(
        draw,
        ToolCall,
        id=st.text(min_size=1, max_size=128),
        name=st.text(min_size=1, max_size=64),
        arguments=json_objects,
    )


tool_calls = _tool_calls()


@st.composite
def chat_messages(draw: st.DrawFn, role: str | None = None) -> ChatMessage:
    role = role or draw(_choices(Role))
    parts = text_parts() if role == "system" else text_parts() | image_parts()
    calls = draw(st.lists(tool_calls, max_size=3)) if role == "assistant" else []
    # Content may be empty only when tool calls carry the message.
    floor = 0 if calls else 1
    content = st.one_of(
        prompt_text if floor else st.just("") | prompt_text,
        st.lists(parts, min_size=floor, max_size=4),
    )
    return _build(
        draw,
        ChatMessage,
        role=st.just(role),
        content=content,
        tool_calls=st.just(calls),
        tool_call_id=st.text(max_size=64) if role == "tool" else st.just(None),
    )


@st.composite
def _tool_specs(draw: st.DrawFn) -> ToolSpec:
    return _build(
        draw,
        ToolSpec,
        name=names_64,
        description=st.text(max_size=100),
        parameters=json_objects,
    )


tool_specs = _tool_specs()


@st.composite
def response_formats(draw: st.DrawFn) -> ResponseFormat:
    kind = draw(_choices(ResponseFormat.model_fields["type"].annotation))
    return _build(
        draw,
        ResponseFormat,
        type=st.just(kind),
        json_schema=json_objects if kind == "json_schema" else st.just(None),
        name=names_64,
    )


@st.composite
def _generation_params(draw: st.DrawFn) -> GenerationParams:
    return _build(
        draw,
        GenerationParams,
        max_tokens=_optional(st.integers(1, 200_000)),
        temperature=_optional(st.floats(0.0, 2.0)),
        top_p=_optional(st.floats(0.0, 1.0, exclude_min=True)),
        stop=_optional(st.lists(st.text(max_size=10), max_size=4)),
    )


generation_params = _generation_params()


# --- events -------------------------------------------------------------------------------


@st.composite
def llm_requests(
    draw: st.DrawFn,
    routes: Sequence[str] = (),
    tenants: Sequence[str] = (),
    models: Sequence[str] = (),
) -> LLMRequest:
    """Any valid request; ``routes``, ``tenants`` and ``models`` are drawn from often, so
    that a config's names are taken, besides unknown names."""
    tools = draw(st.lists(tool_specs, max_size=4, unique_by=lambda t: t.name))
    choices = [c for c in get_args(ToolChoice) if tools or c != "required"]
    tenant = st.text(min_size=1, max_size=64)
    route = st.text(min_size=1, max_size=20)
    if tenants:
        tenant = st.sampled_from(tenants) | tenant
    if routes:
        route = st.sampled_from(routes) | route
    model = st.text(min_size=1, max_size=20)
    if models:
        model = st.sampled_from(models) | model
    # A request names a route, a model or neither; never both.
    asks = draw(st.sampled_from(["neither", "route", "route", "model"]))
    # At most one of the two ways to say a deadline.
    deadline = draw(st.sampled_from(["none", "deadline_s", "deadline_at"]))
    request = _build(
        draw,
        LLMRequest,
        schema_version=st.just(1),
        request_id=request_ids,
        tenant=tenant,
        messages=st.lists(chat_messages(), min_size=1, max_size=5),
        params=generation_params,
        tools=st.just(tools),
        tool_choice=st.sampled_from(choices),
        response_format=_optional(response_formats()),
        task_type=_optional(_choices(TaskType)),
        route=route if asks == "route" else st.none(),
        model=model if asks == "model" else st.none(),
        metadata=st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3),
        stream=st.booleans(),
        created_at=stamps,
        deadline_s=(
            st.floats(0.0, MAX_DEADLINE_S, exclude_min=True)
            if deadline == "deadline_s"
            else st.just(None)
        ),
        deadline_at=aware_datetimes if deadline == "deadline_at" else st.just(None),
    )
    return request


@st.composite
def _classifications(draw: st.DrawFn) -> Classification:
    return _build(
        draw,
        Classification,
        score=st.floats(0.0, 1.0),
        tier=_choices(Tier),
        task_type=_choices(TaskType),
        features=st.dictionaries(st.text(max_size=10), finite_floats, max_size=6),
    )


classifications = _classifications()


@st.composite
def _attempt_records(draw: st.DrawFn) -> AttemptRecord:
    return _build(
        draw,
        AttemptRecord,
        attempt=st.integers(min_value=1),
        model=st.text(max_size=20),
        provider=st.text(max_size=20),
        error_kind=st.text(max_size=20),
        status_code=_optional(st.integers()),
        retry_after_s=_optional(finite_floats),
        started_at=_optional(datetimes),
        ended_at=datetimes,
    )


attempt_records = _attempt_records()


@st.composite
def _admission_marks(draw: st.DrawFn) -> AdmissionMark:
    return _build(
        draw,
        AdmissionMark,
        reserved_usd=costs,
        downgraded=st.just(DEFAULT) | st.booleans(),
        downgrade_reason=_optional(st.text(max_size=100)),
        original_route=_optional(st.text(max_size=20)),
    )


admission_marks = _admission_marks()
route_strategies = st.just(DEFAULT) | _choices(RouteStrategy)
escalation_steps = st.builds(
    EscalationStep,
    model=st.text(max_size=20),
    call_id=st.text(max_size=40),
    check=_choices(QualityCheck),
    detail=st.text(max_size=100),
    cost_usd=costs,
)
quality_verdicts = st.builds(
    QualityVerdict,
    outcome=_choices(QualityVerdict.model_fields["outcome"].annotation),
    check=_optional(_choices(QualityCheck)),
    detail=st.text(max_size=100),
)
pii_kind_counts = st.dictionaries(st.text(min_size=1, max_size=12), counts, max_size=3)
pii_redactions = st.builds(
    PiiRedaction,
    counts=pii_kind_counts,
    modes=st.dictionaries(st.text(min_size=1, max_size=12), st.sampled_from(PiiMode), max_size=3),
)

context_records = st.builds(
    ContextRecord,
    action=_choices(ContextAction),
    model=st.text(max_size=20),
    moved_from=_optional(st.text(max_size=20)),
    family=_choices(TokenFamily),
    window=st.integers(min_value=1),
    max_tokens=counts,
    margin=st.floats(min_value=0, allow_nan=False, allow_infinity=False),
    tokens_before=counts,
    tokens_after=counts,
    extrapolated=st.booleans(),
    turns_dropped=counts,
    messages_dropped=counts,
    messages_cut=counts,
)


@st.composite
def _cache_tickets(draw: st.DrawFn) -> CacheTicket:
    return _build(
        draw,
        CacheTicket,
        route=st.text(min_size=1, max_size=20),
        key=st.text(min_size=1, max_size=64),
        partition_key=st.text(min_size=1, max_size=64),
        scope=st.text(min_size=1, max_size=64),
        mode=_choices(CacheMode),
        prompt=st.text(max_size=40),
    )


cache_tickets = _cache_tickets()


@st.composite
def dispatch_events(draw: st.DrawFn) -> DispatchEvent:
    request = draw(llm_requests())
    return _build(
        draw,
        DispatchEvent,
        schema_version=st.just(1),
        request_id=st.just(request.request_id),
        request=st.just(request),
        classification=classifications,
        route=st.text(max_size=20),
        candidates=st.lists(st.text(max_size=20), min_size=1, max_size=4),
        candidate_index=counts,
        attempt=st.integers(min_value=1),
        model_attempt=st.integers(min_value=1),
        first_seen_at=stamps,
        deadline_at=_optional(aware_datetimes),
        history=st.lists(attempt_records, max_size=3),
        admission=_optional(admission_marks),
        strategy=route_strategies,
        arm=_optional(st.text(max_size=20)),
        escalations=st.lists(escalation_steps, max_size=2),
        context=_optional(context_records),
        cache=_optional(cache_tickets),
    )


@st.composite
def _error_infos(draw: st.DrawFn) -> ErrorInfo:
    return _build(
        draw,
        ErrorInfo,
        kind=st.text(max_size=20),
        message=st.text(max_size=100),
        status_code=_optional(st.integers()),
        retry_after_s=_optional(finite_floats),
    )


error_infos = _error_infos()


@st.composite
def retry_events(draw: st.DrawFn) -> RetryEvent:
    dispatch = draw(dispatch_events())
    return _build(
        draw,
        RetryEvent,
        schema_version=st.just(1),
        request_id=st.just(dispatch.request_id),
        dispatch=st.just(dispatch),
        due_at=datetimes,
        last_error=_optional(error_infos),
        release_to=st.just(DEFAULT) | _choices(RetryEvent.model_fields["release_to"].annotation),
    )


@st.composite
def _token_usages(draw: st.DrawFn) -> TokenUsage:
    return _build(
        draw,
        TokenUsage,
        input_tokens=counts,
        output_tokens=counts,
        cached_input_tokens=counts,
    )


token_usages = _token_usages()


_names = st.lists(st.text(max_size=20), max_size=4)
_misses = st.lists(st.builds(VoterMiss, model=st.text(max_size=20), reason=st.text(max_size=20)))
consensus_outcomes = st.builds(
    ConsensusOutcome,
    strategy=_choices(ConsensusOutcome.model_fields["strategy"].annotation),
    asked=_names,
    answered=_names,
    agreed=_names,
    chosen=_optional(st.text(max_size=20)),
    failed=_misses,
    rejected=_misses,
    cancelled=_names,
    judge=_optional(st.text(max_size=20)),
    decided=st.booleans(),
    note=st.text(max_size=80),
    skipped=st.none() | st.just("streamed"),
)


@st.composite
def _llm_responses(draw: st.DrawFn) -> LLMResponse:
    return _build(
        draw,
        LLMResponse,
        schema_version=st.just(1),
        request_id=request_ids,
        tenant=st.text(max_size=64),
        route=st.text(max_size=20),
        model=st.text(max_size=20),
        provider=st.text(max_size=20),
        upstream_model=st.text(max_size=40),
        content=prompt_text | st.just(""),
        tool_calls=st.lists(tool_calls, max_size=3),
        citations=st.lists(http_urls, max_size=3),
        finish_reason=_choices(FinishReason),
        usage=token_usages,
        cost_usd=money,
        attempts=st.integers(min_value=1),
        latency_ms=st.floats(min_value=0.0, allow_infinity=False),
        provider_request_id=_optional(st.text(max_size=40)),
        downgraded=st.just(DEFAULT) | st.booleans(),
        downgrade_reason=_optional(st.text(max_size=100)),
        strategy=route_strategies,
        arm=_optional(st.text(max_size=20)),
        streamed=_optional(
            st.builds(
                StreamedCall,
                call_id=st.text(max_size=40),
                chunks=st.integers(min_value=0),
                ttft_ms=st.floats(min_value=0.0, allow_infinity=False),
            )
        ),
        created_at=stamps,
        consensus=_optional(consensus_outcomes),
        escalated=st.booleans(),
        escalations=st.lists(escalation_steps, max_size=2),
        quality=_optional(quality_verdicts),
        context=_optional(context_records),
        redaction=_optional(pii_redactions),
        cache=_optional(_choices(CacheHitKind)),
        cache_origin=_optional(st.text(max_size=20)),
    )


llm_responses = _llm_responses()


@st.composite
def _event_sources(draw: st.DrawFn) -> EventSource:
    return _build(
        draw,
        EventSource,
        topic=st.text(max_size=30),
        partition=counts,
        offset=counts,
    )


event_sources = _event_sources()


@st.composite
def _limit_infos(draw: st.DrawFn) -> LimitInfo:
    return _build(
        draw,
        LimitInfo,
        kind=_choices(LimitInfo.model_fields["kind"].annotation),
        budget=_optional(st.text(max_size=40)),
        period=_optional(st.text(max_size=10)),
        limit=money,
        spent_usd=_optional(money),
        reserved_usd=_optional(money),
        estimate=_optional(money),
        retry_after_s=_optional(finite_floats),
    )


limit_infos = _limit_infos()


@st.composite
def _dead_letters(draw: st.DrawFn) -> DeadLetter:
    return _build(
        draw,
        DeadLetter,
        schema_version=st.just(1),
        request_id=_optional(request_ids),
        tenant=_optional(st.text(max_size=64)),
        stage=_choices(DeadLetterStage),
        reason=_choices(DeadLetterReason),
        detail=st.text(max_size=200),
        attempts=counts,
        last_error=_optional(error_infos),
        history=st.lists(attempt_records, max_size=3),
        payload=_optional(prompt_text),
        payload_masked=st.just(DEFAULT) | st.booleans(),
        source=_optional(event_sources),
        limit=_optional(limit_infos),
        context=_optional(context_records),
        created_at=stamps,
    )


dead_letters = _dead_letters()


@st.composite
def _usage_events(draw: st.DrawFn) -> UsageEvent:
    return _build(
        draw,
        UsageEvent,
        schema_version=st.just(1),
        request_id=st.text(max_size=128),
        attempt=counts,
        call_id=st.text(min_size=1, max_size=40),
        tenant=st.text(max_size=64),
        route=st.text(max_size=20),
        model=st.text(max_size=20),
        provider=st.text(max_size=20),
        upstream_model=st.text(max_size=40),
        outcome=_choices(UsageOutcome),
        error_kind=st.text(max_size=20),
        status_code=st.integers(),
        is_fallback=st.booleans(),
        input_tokens=st.integers(),
        output_tokens=st.integers(),
        cached_input_tokens=st.integers(),
        cost_usd=money,
        latency_ms=finite_floats,
        ttft_ms=st.floats(min_value=0.0, allow_infinity=False),
        complexity=finite_floats,
        tier=st.text(max_size=10),
        task_type=st.text(max_size=10),
        strategy=st.text(max_size=12),
        arm=st.text(max_size=20),
        started_at=stamps,
        purpose=_choices(CallPurpose),
        escalated=st.booleans(),
        escalation_reason=st.text(max_size=40),
        quality_failure=st.text(max_size=20),
        context_action=st.text(max_size=10),
        pii_counts=pii_kind_counts,
        cache=_optional(_choices(CacheHitKind)),
        cache_origin=st.text(max_size=20),
        saved_usd=st.decimals(min_value=0, allow_nan=False, allow_infinity=False),
    )


usage_events = _usage_events()


@st.composite
def _chunk_events(draw: st.DrawFn) -> ChunkEvent:
    tool_call = st.builds(
        ToolCallChunk,
        index=st.integers(min_value=0, max_value=100),
        id=_optional(st.text(max_size=40)),
        name=_optional(st.text(max_size=40)),
        arguments=st.text(max_size=60),
    )
    return _build(
        draw,
        ChunkEvent,
        schema_version=st.just(1),
        request_id=request_ids,
        call_id=st.text(min_size=1, max_size=40),
        attempt=st.integers(min_value=1),
        seq=st.integers(min_value=0),
        model=st.text(max_size=20),
        text=prompt_text | st.just(""),
        tool_call=st.none() | tool_call,
        created_at=stamps,
    )


chunk_events = _chunk_events()


# --- the admission topics -----------------------------------------------------------------


@st.composite
def _admit_events(draw: st.DrawFn) -> AdmitEvent:
    dispatch = draw(dispatch_events())
    return _build(
        draw,
        AdmitEvent,
        kind=st.sampled_from([DEFAULT, "admit"]),
        schema_version=st.just(1),
        request_id=st.just(dispatch.request_id),
        tenant=st.just(dispatch.request.tenant),
        dispatch=st.just(dispatch),
        rate_paid=st.just(DEFAULT) | st.booleans(),
    )


admit_events = _admit_events()


@st.composite
def _spend_events(draw: st.DrawFn) -> SpendEvent:
    return _build(
        draw,
        SpendEvent,
        kind=st.sampled_from([DEFAULT, "spend"]),
        schema_version=st.just(1),
        request_id=request_ids,
        tenant=st.text(max_size=64),
        call_id=st.just(DEFAULT) | st.text(max_size=40),
        route=st.text(max_size=20),
        model=st.text(max_size=20),
        cost_usd=costs,
        final=st.booleans(),
        at=stamps,
    )


spend_events = _spend_events()


@st.composite
def _reservation_records(draw: st.DrawFn) -> ReservationRecord:
    return _build(
        draw,
        ReservationRecord,
        amount=costs,
        budgets=st.lists(st.text(max_size=40), max_size=4),
        expires_at=finite_floats,
        route=st.text(max_size=20),
        candidates=st.lists(st.text(max_size=20), max_size=4),
        downgrade_reason=_optional(st.text(max_size=100)),
    )


@st.composite
def _bucket_records(draw: st.DrawFn) -> BucketRecord:
    return _build(draw, BucketRecord, level=finite_floats, at=finite_floats)


@st.composite
def _tenant_snapshots(draw: st.DrawFn) -> TenantSnapshot:
    keys = st.text(max_size=40)
    return _build(
        draw,
        TenantSnapshot,
        schema_version=st.just(1),
        tenant=st.text(max_size=64),
        partition=counts,
        confirmed_offset=st.integers(min_value=-1),
        unconfirmed_calls=st.lists(st.text(max_size=40), max_size=4),
        spent=st.dictionaries(keys, money, max_size=4),
        reservations=st.dictionaries(request_ids, _reservation_records(), max_size=4),
        alerted=st.dictionaries(keys, st.integers(), max_size=4),
        buckets=st.dictionaries(keys, _bucket_records(), max_size=3),
        written_at=stamps,
    )


tenant_snapshots = _tenant_snapshots()


@st.composite
def _budget_alerts(draw: st.DrawFn) -> BudgetAlert:
    return _build(
        draw,
        BudgetAlert,
        kind=st.just("budget") | st.just(DEFAULT),
        schema_version=st.just(1),
        tenant=st.text(max_size=64),
        budget=st.text(max_size=40),
        period=_choices(Period),
        period_key=st.text(max_size=10),
        mode=_choices(BudgetMode),
        threshold=finite_floats,
        spent_usd=money,
        limit_usd=money,
        created_at=stamps,
    )


budget_alerts = _budget_alerts()


@st.composite
def _rule_alerts(draw: st.DrawFn) -> RuleAlert:
    by = draw(_choices(AlertDim))
    return _build(
        draw,
        RuleAlert,
        kind=st.just("rule") | st.just(DEFAULT),
        schema_version=st.just(1),
        state=_choices(AlertState),
        rule=names_64,
        metric=_choices(AlertMetric),
        by=st.just(by),
        dims=st.fixed_dictionaries({by: st.text(max_size=64)}),
        value=_optional(finite_floats),
        samples=counts,
        threshold=finite_floats,
        window_s=finite_floats,
        reason=_choices(AlertReason),
        since=datetimes,
        at=stamps,
    )


rule_alerts = _rule_alerts()


@st.composite
def _cache_lookups(draw: st.DrawFn) -> CacheLookup:
    dispatch = draw(dispatch_events()).model_copy(update={"cache": draw(cache_tickets)})
    return CacheLookup(
        request_id=dispatch.request_id, tenant=dispatch.request.tenant, dispatch=dispatch
    )


@st.composite
def _cache_fills(draw: st.DrawFn) -> CacheFill:
    response = draw(llm_responses)
    return _build(
        draw,
        CacheFill,
        schema_version=st.just(1),
        kind=st.just("fill"),
        request_id=st.just(response.request_id),
        ticket=cache_tickets,
        response=st.just(response),
        filled_at=finite_floats,
    )


@st.composite
def _cache_fails(draw: st.DrawFn) -> CacheFail:
    return _build(
        draw,
        CacheFail,
        schema_version=st.just(1),
        kind=st.just("fail"),
        request_id=request_ids,
        ticket=cache_tickets,
        letter=dead_letters,
    )


EVENT_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "LLMRequest": llm_requests(),
    "DispatchEvent": dispatch_events(),
    "RetryEvent": retry_events(),
    "LLMResponse": llm_responses,
    "DeadLetter": dead_letters,
    "UsageEvent": usage_events,
    "AdmitEvent": admit_events,
    "SpendEvent": spend_events,
    "TenantSnapshot": tenant_snapshots,
    "BudgetAlert": budget_alerts,
    "RuleAlert": rule_alerts,
    "ChunkEvent": chunk_events,
    "CacheLookup": _cache_lookups(),
    "CacheFill": _cache_fills(),
    "CacheFail": _cache_fails(),
}
