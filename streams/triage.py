"""Triage: validate, deduplicate, classify and route a request into a dispatch event.

A cacheable request goes to the cache stage first (streams/cache.py); a tenant with
budgets or rate limits goes through admission (streams/admission.py).

:func:`triage` is pure apart from the dedup memory; :class:`TriageStage` publishes its
outcome.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson
from pydantic import ValidationError

from adapters.capabilities import Capabilities
from policy.cache_key import ticket_for
from policy.context_fit import check_for
from policy.retry import deadline_for
from policy.router import RoutingError, plan_request
from policy.scoring import Classifier, build_classifier
from policy.strategy import NO_LATENCY, Rotation, model_capabilities
from schemas.base import utcnow
from schemas.cache_events import CacheLookup
from schemas.config import GatewayConfig
from schemas.events import DeadLetter, DeadLetterReason, DispatchEvent, LLMRequest, UsageEvent
from schemas.routes import RetryPolicyConfig
from streams.dead_letters import describe, identity, unreadable
from streams.forwarding import CallHere, forward
from streams.outcome_ledger import OutcomeLedger
from streams.publisher import Publisher
from streams.redaction import pii_refusal

log = logging.getLogger(__name__)


class RecentIds:
    """Bounded memory of request_ids already triaged by this worker (LRU order)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def seen_before(self, request_id: str) -> bool:
        if request_id in self._ids:
            self._ids.move_to_end(request_id)
            return True
        if self.capacity:
            self._ids[request_id] = None
            if len(self._ids) > self.capacity:
                self._ids.popitem(last=False)
        return False

    def forget(self, request_id: str) -> None:
        """Undo ``seen_before`` for a request whose forwarding failed, so its retry passes."""
        self._ids.pop(request_id, None)


@dataclass(frozen=True)
class Routed:
    dispatch: DispatchEvent


@dataclass(frozen=True)
class Rejected:
    dead_letter: DeadLetter
    usage: UsageEvent | None


@dataclass(frozen=True)
class Duplicate:
    request_id: str


TriageOutcome = Routed | Rejected | Duplicate


def _reject_unparsed(raw: bytes, reason: DeadLetterReason, detail: str) -> Rejected:
    # Pick up what identity we can so the upstream can still match the dead letter.
    request_id, tenant = identity(raw)
    letter = unreadable("triage", raw, reason, detail, request_id=request_id, tenant=tenant)
    return Rejected(letter, None)


def triage(
    raw: bytes,
    config: GatewayConfig,
    recent: RecentIds,
    *,
    capabilities: Mapping[str, Capabilities] | None = None,
    rotation: Rotation | None = None,
    latency_ms: Mapping[str, float] = NO_LATENCY,
    classifier: Classifier | None = None,
) -> TriageOutcome:
    """What to do with one raw request. ``capabilities`` are the models' (by name; worked
    out from the config when None), ``rotation`` the round-robin turns and ``latency_ms``
    what ``fastest`` knows: see :func:`policy.router.plan_request`. ``classifier`` is the
    config's (``router``; built, once per process, when None)."""
    # Before any parsing: the request topic takes events up to twice the limit so that
    # these get an answer instead of a refusal at publish. Reading their identity parses
    # the JSON once (a few ms for the largest), the cost of any request under the limit.
    limit = config.limits.max_request_bytes
    if len(raw) > limit:
        detail = (
            f"request is {len(raw)} bytes, over the limit of {limit} bytes"
            " (limits.max_request_bytes); send large images by url"
        )
        return _reject_unparsed(raw, "request_too_large", detail)
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _reject_unparsed(raw, "invalid_json", f"request is not JSON: {exc}")
    try:
        request = LLMRequest.from_bytes(raw)
    except ValidationError as exc:
        return _reject_unparsed(raw, "schema_invalid", f"request fails the schema: {describe(exc)}")

    if recent.seen_before(request.request_id):
        return Duplicate(request.request_id)

    classify = classifier or build_classifier(config.router)
    classification = classify(request)
    try:
        if capabilities is None:
            capabilities = model_capabilities(config)
        plan = plan_request(
            config,
            request,
            classification,
            capabilities,
            rotation=rotation,
            latency_ms=latency_ms,
        )
    except RoutingError as exc:
        letter = DeadLetter(
            request_id=request.request_id,
            tenant=request.tenant,
            stage="triage",
            reason=exc.reason,
            detail=exc.detail,
            context=exc.context,
        )
        route_name = exc.route or request.route or ""
        usage = UsageEvent.rejection(
            request.request_id, request.tenant, route_name, exc.reason, classification
        )
        if exc.context is not None:
            usage = usage.model_copy(update={"context_action": exc.context.action})
        return Rejected(letter, usage)

    # A PII policy that blocks: refused here, before admission or any provider.
    if (refused := pii_refusal(config, plan.route, request, classification)) is not None:
        return Rejected(*refused)
    route = config.route(plan.route)
    policy = route.retry if route is not None else RetryPolicyConfig()
    first_seen_at = utcnow()
    dispatch = DispatchEvent(
        request_id=request.request_id,
        request=plan.request or request,
        classification=classification,
        route=plan.route,
        candidates=plan.candidates,
        first_seen_at=first_seen_at,
        deadline_at=deadline_for(request, policy, first_seen_at),
        strategy=plan.strategy,
        arm=plan.arm,
        context=plan.context,
    )
    return Routed(dispatch)


class TriageStage:
    """The triage agent's handler: publish what :func:`triage` decided, through the ledger.

    A request already answered (republished, or replayed after a crash) is dropped before it
    reaches dispatch; a rejection is a terminal outcome, so it is settled like one.
    """

    def __init__(
        self,
        config: GatewayConfig,
        publisher: Publisher,
        ledger: OutcomeLedger,
        latency_ms: Callable[[], Mapping[str, float]] = lambda: NO_LATENCY,
        inline: CallHere | None = None,
        inline_here: Callable[[int, str], bool] = lambda partition, request_id: True,
    ) -> None:
        """``inline``: makes a first attempt in this task (the dispatcher's); None sends
        every routed request on through the dispatch topic. ``inline_here(partition,
        request_id)``: whether a request read from that partition may be called here
        (streams/inline_calls.py)."""
        self.config = config
        self.inline = inline
        self.inline_here = inline_here
        self.topics = config.topics
        self.publisher = publisher
        self.ledger = ledger
        self.recent = RecentIds(config.dedup_window)
        self.capabilities = model_capabilities(config)
        # A missing tokenizer stops the start-up, not a request near a window.
        check_for(config)
        # Loads the learned scorer's model now, so a bad router.model_dir fails here.
        self.classifier = build_classifier(config.router)
        self.rotation = Rotation()
        self.latency_ms = latency_ms
        """This worker's latency figures by model name, read once per request (fastest)."""

    async def handle(self, raw: bytes, partition: int | None = None) -> None:
        """One request event, read from ``partition`` of the request topic (None: not
        known, so never called in place)."""
        await self.ledger.ready.wait()
        # triage() runs before the first await after the ledger is ready, and the window
        # starts tasks in arrival order, so dedup sees events in offset order.
        outcome = triage(
            raw,
            self.config,
            self.recent,
            capabilities=self.capabilities,
            rotation=self.rotation,
            latency_ms=self.latency_ms(),
            classifier=self.classifier,
        )
        if isinstance(outcome, Routed):
            rid = outcome.dispatch.request_id
            if self.ledger.answered(rid):
                log.info("request %s already answered: dropped at triage", rid)
                return
            try:
                await self._route(outcome.dispatch, partition)
            except BaseException:
                self.recent.forget(rid)  # the window runs this handler again: not a duplicate
                raise
        elif isinstance(outcome, Rejected):
            key = outcome.dead_letter.request_id
            send = self.publisher.send(self.topics.dlq, outcome.dead_letter, key)
            if key is None:
                await send
            elif not await self.ledger.settle(key, send):
                return
            if outcome.usage is not None:
                await self.publisher.send(self.topics.usage, outcome.usage, key)
        else:
            log.info("duplicate request_id %s dropped at triage", outcome.request_id)

    async def _route(self, dispatch: DispatchEvent, partition: int | None) -> None:
        """A cacheable request to the cache stage (its ticket on the dispatch event);
        the rest on to admission, or to its first attempt: in place when this stage has a
        dispatcher and the request is read where its attempts meet it, else through the
        dispatch topic."""
        ticket = ticket_for(self.config, dispatch.request, dispatch.route)
        if ticket is None:
            call_here = self.inline
            # The partition check hashes the id: only worth it when calling here is on.
            if call_here is not None and (
                partition is None or not self.inline_here(partition, dispatch.request_id)
            ):
                call_here = None
            await forward(self.config, self.publisher, dispatch, call_here)
            return
        dispatch = dispatch.model_copy(update={"cache": ticket})
        lookup = CacheLookup(
            request_id=dispatch.request_id, tenant=dispatch.request.tenant, dispatch=dispatch
        )
        await self.publisher.send(self.topics.cache, lookup, ticket.partition_key)
