"""PII redaction where it acts: the block in triage, and the call boundary in dispatch.

Triage (:func:`pii_refusal`): a request holding a value of a kind its policy blocks is
refused with a ``pii_blocked`` dead letter naming the kinds and counts, never the values,
and a rejection usage row.

Dispatch (:class:`Redactor`): every provider call a request attempt makes goes through
the attempt's :class:`CallScope`, whose ``complete`` and ``stream`` send the request
redacted: the plain call, a streamed one, each consensus voter and the judge. Fallbacks,
retries and escalations are new attempts, each with its own scope; detection is
deterministic, so they send the same tokens. The consensus fan-out holds only the
:class:`Redactor`, whose ``complete`` refuses a call made with no attempt open.

What the provider answers stays as it wrote it (tokens, masks) everywhere inside
routeyard: quality checks, votes, the judge's prompt, the details quoted in escalation
steps and dead letters. Values come back only where the caller reads: the response
(:meth:`CallScope.respond`) and each streamed chunk, restored as it passes (a token split
across chunks is held back until it is whole). The placeholder mapping lives in the scope,
in this worker's memory, for the attempt's duration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextvars import ContextVar

from adapters.base import StreamDelta, TextDelta, ToolCallDelta
from policy.pii import StreamRestorer
from policy.pii_policy import (
    PiiPolicy,
    RequestRedactor,
    blocked,
    count_found,
    policy_for,
    restore_calls,
)
from schemas.config import GatewayConfig
from schemas.events import (
    Classification,
    DeadLetter,
    DispatchEvent,
    LLMRequest,
    UsageEvent,
)
from schemas.pii import PiiRedaction
from schemas.responses import LLMResponse
from streams.model_client import ModelCall, ModelClient


def pii_refusal(
    config: GatewayConfig, route: str, request: LLMRequest, classification: Classification
) -> tuple[DeadLetter, UsageEvent] | None:
    """The dead letter and usage row of a request its PII policy blocks; None lets it on."""
    policy = policy_for(config, route, request.tenant)
    if policy is None or not policy.blocks:
        return None
    counts = count_found(request, policy)
    refused = blocked(counts, policy)
    if not refused:
        return None
    listed = ", ".join(f"{kind} ({n})" for kind, n in refused.items())
    letter = DeadLetter(
        request_id=request.request_id,
        tenant=request.tenant,
        stage="triage",
        reason="pii_blocked",
        detail=(
            f"the messages hold values of kinds the PII policy of route {route!r} and tenant"
            f" {request.tenant!r} blocks: {listed} (values not shown); remove them or send"
            " them on a route that masks them"
        ),
    )
    usage = UsageEvent.rejection(
        request.request_id, request.tenant, route, "pii_blocked", classification
    ).model_copy(update={"pii_counts": counts})
    return letter, usage


# The attempt being dispatched in this task (and in the tasks it starts: a consensus
# fan-out's voters). Each event's handler runs in a task of its own, so no other
# request's attempt can see it.
_CURRENT: ContextVar[CallScope | None] = ContextVar("routeyard_call_scope", default=None)


class CallOutsideAttempt(RuntimeError):
    """A provider call with no request attempt open: nothing says what to redact."""


class Redactor:
    """Dispatch's only way to providers. :meth:`enter` opens an attempt's
    :class:`CallScope`; ``complete`` (as :class:`~streams.model_client.ModelClient` has
    it, for the consensus fan-out) goes through the open scope and is refused without one.
    A streamed call takes the scope itself (streams/stream_call.py)."""

    def __init__(self, config: GatewayConfig, models: ModelClient) -> None:
        self.config = config
        self._models = models

    def enter(self, ev: DispatchEvent) -> CallScope:
        """Open ``ev``'s attempt: the calls made from here on in this task go through it."""
        policy = policy_for(self.config, ev.route, ev.request.tenant)
        scope = CallScope(self._models, policy, ev.request)
        _CURRENT.set(scope)
        return scope

    @staticmethod
    def _scope() -> CallScope:
        scope = _CURRENT.get()
        if scope is None:
            raise CallOutsideAttempt("a provider call outside a request attempt's scope")
        return scope

    async def complete(self, model_name: str, request: LLMRequest) -> ModelCall:
        return await self._scope().complete(model_name, request)

    def counts(self) -> dict[str, int]:
        """The open attempt's PII counts by kind, for its usage rows ({} when none)."""
        scope = _CURRENT.get()
        record = scope.record if scope is not None else None
        return dict(record.counts) if record is not None else {}


class CallScope:
    """One request attempt's calls: sent redacted, answers restored for the caller."""

    def __init__(self, models: ModelClient, policy: PiiPolicy | None, request: LLMRequest) -> None:
        self._models = models
        self._request = request
        self._redactor = RequestRedactor(policy) if policy is not None else None
        self._sent: LLMRequest | None = None
        self._counts: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"CallScope({self._redactor!r})"

    def _redacted(self, request: LLMRequest) -> LLMRequest:
        if self._redactor is None:
            return request
        if request is self._request:
            # The request itself: scanned once per attempt, whichever call comes first.
            if self._sent is None:
                self._sent = self._redactor.request(request, self._counts)
            return self._sent
        # A request built from it (the judge's). The request's own values take their
        # tokens first, in message order; this one's finds are not counted as the request's.
        self._redacted(self._request)
        return self._redactor.request(request, {})

    @property
    def record(self) -> PiiRedaction | None:
        """What the policy did to the request; None when no policy applies."""
        if self._redactor is None:
            return None
        self._redacted(self._request)
        return self._redactor.record(self._counts)

    async def complete(self, model_name: str, request: LLMRequest) -> ModelCall:
        """The call, sent redacted; the answer as the provider wrote it."""
        return await self._models.complete(model_name, self._redacted(request))

    async def stream(
        self, model_name: str, request: LLMRequest
    ) -> AsyncIterator[StreamDelta | ModelCall]:
        """The call in streaming mode, sent redacted: deltas restored for the caller, then
        the priced whole as the provider wrote it."""
        parts = self._models.stream(model_name, self._redacted(request))
        if self._redactor is None or not len(self._redactor.placeholders):
            async for part in parts:
                yield part
            return
        placeholders = self._redactor.placeholders
        text = placeholders.restorer.stream()
        arguments: dict[int, StreamRestorer] = {}
        async for part in parts:
            if isinstance(part, TextDelta):
                if restored := text.feed(part.text):
                    yield TextDelta(text=restored)
            elif isinstance(part, ToolCallDelta):
                if held := text.flush():
                    yield TextDelta(text=held)
                restorer = arguments.setdefault(part.index, placeholders.json_restorer.stream())
                restored = restorer.feed(part.arguments)
                if restored or part.id is not None or part.name is not None:
                    yield part.model_copy(update={"arguments": restored})
            else:
                if held := text.flush():
                    yield TextDelta(text=held)
                for index, restorer in arguments.items():
                    if held := restorer.flush():
                        yield ToolCallDelta(index=index, arguments=held)
                yield part

    def respond(self, response: LLMResponse) -> LLMResponse:
        """The response as the caller gets it: placeholders restored, what was done said."""
        record = self.record
        if self._redactor is None or record is None:
            return response
        update: dict[str, object] = {"redaction": record}
        if len(self._redactor.placeholders):
            restorer = self._redactor.placeholders.restorer
            update["content"] = restorer.restore(response.content)
            update["tool_calls"] = restore_calls(response.tool_calls, restorer)
        return response.model_copy(update=update)
