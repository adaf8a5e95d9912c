"""Admission of one tenant's requests: budgets, rate limits, reservations, settlement.

A :class:`TenantBook` is the whole state of one tenant (docs/design/state.md). It changes
only through :meth:`TenantBook.admit` and :meth:`TenantBook.spend`, applied one event at
a time in the admission topic's order; both are deterministic given the event, its offset,
the clock and the config, and do no I/O, so the stage around them stays thin.

Replays are harmless by content, not only by offset. An event at or below
``confirmed_offset`` is skipped by the stage. One above it may already be in the state
(decided, snapshot written, outputs or ack not yet confirmed), so:

- an ``admit`` of a request that holds a reservation returns the same admission again,
  with no new reservation and no new rate charge;
- a ``spend`` whose ``call_id`` is already counted adds nothing, still releases, and
  re-emits the alerts it crossed first time.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta
from decimal import Decimal

from policy.admission_decisions import (
    ZERO,
    Admit,
    AdmitDecision,
    Delay,
    RateKind,
    Reject,
    budget_rejection,
    money,
    rejection,
)
from policy.budget import applies, budget_key, crossed, period_key, previous_period_key
from policy.estimate import cost_estimate, request_tokens
from policy.rate_limit import Bucket, charge, refill, wait_s
from schemas.admission import (
    AdmitEvent,
    BucketRecord,
    BudgetAlert,
    ReservationRecord,
    SpendEvent,
    TenantSnapshot,
)
from schemas.budgets import BudgetConfig, RateLimitConfig
from schemas.config import GatewayConfig
from schemas.events import (
    AdmissionMark,
    DispatchEvent,
    LimitInfo,
    RetryEvent,
)

# Call ids this worker remembers per tenant beyond the unconfirmed ones: catches a spend
# the producer delivered twice, which the offsets cannot tell apart.
_RECENT_CALLS = 10_000
_EXPIRY_CHECK_S = 1.0


class TenantBook:
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.spent: dict[str, Decimal] = {}
        self.reserved: dict[str, Decimal] = {}
        self.reservations: dict[str, ReservationRecord] = {}
        self.alerted: dict[str, int] = {}  # alert key -> offset of the spend that crossed it
        self.buckets: dict[str, Bucket] = {}
        self.confirmed_offset = -1
        # Offsets decided but not confirmed yet, in order, with a spend's call id.
        self._open: OrderedDict[int, str | None] = OrderedDict()
        self._confirmed_open: set[int] = set()
        self._calls: OrderedDict[str, None] = OrderedDict()
        self._next_expiry = 0.0

    # -- decisions -------------------------------------------------------------------

    def admit(
        self, event: AdmitEvent, offset: int, config: GatewayConfig, now: datetime
    ) -> AdmitDecision:
        self._open.setdefault(offset, None)
        self._housekeep(now)
        ev = event.dispatch
        held = self.reservations.get(event.request_id)
        if held is not None:
            return Admit(self._admitted(ev, held))
        policy = config.admission.policy_for(self.tenant)
        if policy is None:  # the policy went away between triage and here
            return Admit(ev)

        route, candidates = ev.route, ev.candidates
        estimate = cost_estimate(ev.request, candidates, config)
        reason = None
        soft = self._over(policy.budgets, "soft", route, candidates[0], estimate, now)
        if soft is not None:
            route, candidates = _downgrade(soft[0], route, candidates, config)
            reason = f"soft budget {soft[1]}"
            estimate = cost_estimate(ev.request, candidates, config)
        hard = self._over(policy.budgets, "hard", route, candidates[0], estimate, now)
        if hard is not None:
            key = budget_key(hard[0], now)
            spent, reserved = self.spent.get(key, ZERO), self.reserved.get(key, ZERO)
            return budget_rejection(ev, hard[0], spent, reserved, estimate, now)

        if policy.rate_limit is not None and not event.rate_paid:
            limited = self._rate(policy.rate_limit, ev, config, now)
            if limited is not None:
                return limited

        if not policy.budgets:
            # Nothing to settle: dispatch sends no spend for such a tenant (a rate limit
            # alone), so a reservation would only wait for its expiry.
            return Admit(ev.model_copy(update={"admission": AdmissionMark(reserved_usd=ZERO)}))
        keys = [budget_key(b, now) for b in policy.budgets if applies(b, route, candidates[0])]
        deadline = ev.deadline_at or now + timedelta(seconds=3600)
        grace = config.admission.reservation_grace_s
        held = ReservationRecord(
            amount=estimate,
            budgets=keys,
            expires_at=deadline.timestamp() + grace,
            route=route,
            candidates=candidates,
            downgrade_reason=reason,
        )
        self.reservations[event.request_id] = held
        for key in keys:
            self.reserved[key] = self.reserved.get(key, Decimal(0)) + estimate
        return Admit(self._admitted(ev, held))

    def spend(
        self, event: SpendEvent, offset: int, config: GatewayConfig, now: datetime
    ) -> list[BudgetAlert]:
        call = event.call_id or None
        self._open.setdefault(offset, call)
        policy = config.admission.policy_for(self.tenant)
        held = self.reservations.get(event.request_id)
        budgets = {b.id: b for b in policy.budgets} if policy is not None else {}
        if held is not None:
            keys = list(held.budgets)
        else:
            keys = [
                budget_key(b, event.at)
                for b in budgets.values()
                if applies(b, event.route, event.model)
            ]
        alerts: list[BudgetAlert] = []
        if call is not None and call in self._calls:
            # Counted before this replay: what it crossed then is published again.
            for akey, at in self.alerted.items():
                key, threshold = akey.rsplit("|", 1)
                budget = budgets.get(key.split("|")[0])
                if at == offset and budget is not None:
                    alerts.append(self._alert(budget, key, float(threshold)))
        else:
            if call is not None:
                self._remember(call)
            if event.cost_usd > 0:
                for key in keys:
                    before = self.spent.get(key, Decimal(0))
                    self.spent[key] = before + event.cost_usd
                    budget = budgets.get(key.split("|")[0])
                    if budget is None:
                        continue
                    for t in crossed(before, self.spent[key], budget.limit_usd, budget.alert_at):
                        akey = f"{key}|{t!r}"
                        if akey not in self.alerted:
                            self.alerted[akey] = offset
                            alerts.append(self._alert(budget, key, t))
        if event.final and held is not None:
            self._release(event.request_id, held)
        return alerts

    # -- offsets ---------------------------------------------------------------------

    def confirm(self, offset: int) -> None:
        """The outputs of the event at ``offset`` are on the broker."""
        if offset not in self._open:
            return
        self._confirmed_open.add(offset)
        while self._open:
            first = next(iter(self._open))
            if first not in self._confirmed_open:
                break
            self._open.popitem(last=False)
            self._confirmed_open.discard(first)
            self.confirmed_offset = max(self.confirmed_offset, first)

    def decided(self, offset: int) -> bool:
        return offset <= self.confirmed_offset

    # -- snapshots -------------------------------------------------------------------

    def snapshot(self, partition: int) -> TenantSnapshot:
        return TenantSnapshot(
            tenant=self.tenant,
            partition=partition,
            confirmed_offset=self.confirmed_offset,
            unconfirmed_calls=[c for c in self._open.values() if c is not None],
            spent=dict(self.spent),
            reservations=dict(self.reservations),
            alerted=dict(self.alerted),
            buckets={k: BucketRecord(level=b.level, at=b.at) for k, b in self.buckets.items()},
        )

    @classmethod
    def from_snapshot(cls, snap: TenantSnapshot) -> TenantBook:
        book = cls(snap.tenant)
        book.confirmed_offset = snap.confirmed_offset
        book.spent = dict(snap.spent)
        book.reservations = dict(snap.reservations)
        book.alerted = dict(snap.alerted)
        book.buckets = {k: Bucket(b.level, b.at) for k, b in snap.buckets.items()}
        for held in book.reservations.values():
            for key in held.budgets:
                book.reserved[key] = book.reserved.get(key, Decimal(0)) + held.amount
        for call in snap.unconfirmed_calls:
            book._remember(call)
        return book

    # -- internals -------------------------------------------------------------------

    def _admitted(self, ev: DispatchEvent, held: ReservationRecord) -> DispatchEvent:
        changed = held.route != ev.route or held.candidates != ev.candidates
        mark = AdmissionMark(
            reserved_usd=held.amount,
            downgraded=held.downgrade_reason is not None,
            downgrade_reason=held.downgrade_reason,
            original_route=ev.route if held.route != ev.route else None,
        )
        update: dict[str, object] = {"admission": mark}
        if changed:
            update |= {"route": held.route, "candidates": held.candidates, "candidate_index": 0}
        return ev.model_copy(update=update)

    def _over(
        self,
        budgets: list[BudgetConfig],
        mode: str,
        route: str,
        model: str,
        estimate: Decimal,
        now: datetime,
    ) -> tuple[BudgetConfig, str] | None:
        for budget in budgets:
            if budget.mode != mode or not applies(budget, route, model):
                continue
            key = budget_key(budget, now)
            spent = self.spent.get(key, Decimal(0))
            reserved = self.reserved.get(key, Decimal(0))
            if spent + reserved + estimate > budget.limit_usd:
                why = (
                    f"{budget.id} ({period_key(budget.period, now)}): spent {money(spent)}"
                    f" + reserved {money(reserved)} + this request up to {money(estimate)}"
                    f" USD is over the limit of {money(budget.limit_usd)} USD"
                )
                return budget, why
        return None

    def _rate(
        self, limit: RateLimitConfig, ev: DispatchEvent, config: GatewayConfig, now: datetime
    ) -> Reject | Delay | None:
        t = now.timestamp()
        tokens = request_tokens(ev.request, config.admission)
        wanted: list[tuple[RateKind, int, int]] = []
        if limit.requests_per_minute is not None:
            wanted.append(("requests_per_minute", 1, limit.requests_per_minute))
        if limit.tokens_per_minute is not None:
            wanted.append(("tokens_per_minute", tokens, limit.tokens_per_minute))
        wait = 0.0
        worst: tuple[RateKind, int] | None = None
        due = now
        for name, cost, per_minute in wanted:
            rate, capacity = per_minute / 60.0, per_minute * limit.burst_s / 60.0
            bucket = refill(self.buckets.get(name), rate, capacity, t)
            self.buckets[name] = bucket
            w = wait_s(bucket, cost, rate, capacity)
            if w > wait:
                wait, worst = w, (name, per_minute)
        if worst is not None:
            name, per_minute = worst
            info = LimitInfo(
                kind=name,
                limit=Decimal(per_minute),
                estimate=Decimal(tokens if name == "tokens_per_minute" else 1),
                retry_after_s=round(wait, 3),
            )
            due = now + timedelta(seconds=wait)
            if limit.on_limit == "reject":
                detail = f"{name} limit of {per_minute}: retry in {wait:.3f}s"
                return rejection(ev, "rate_limited", detail, info)
            if ev.deadline_at is not None and due > ev.deadline_at:
                detail = (
                    f"{name} limit of {per_minute}: its slot in {wait:.3f}s is past the"
                    f" request's deadline {ev.deadline_at.isoformat()}"
                )
                return rejection(ev, "rate_limited", detail, info)
        for name, cost, _ in wanted:
            self.buckets[name] = charge(self.buckets[name], cost)
        if worst is None:
            return None
        retry = RetryEvent(
            request_id=ev.request_id, dispatch=ev, due_at=due, release_to="admission"
        )
        return Delay(retry)

    def _alert(self, budget: BudgetConfig, key: str, threshold: float) -> BudgetAlert:
        return BudgetAlert(
            tenant=self.tenant,
            budget=budget.id,
            period=budget.period,
            period_key=key.split("|")[1],
            mode=budget.mode,
            threshold=threshold,
            spent_usd=self.spent.get(key, Decimal(0)),
            limit_usd=budget.limit_usd,
        )

    def _release(self, request_id: str, held: ReservationRecord) -> None:
        del self.reservations[request_id]
        for key in held.budgets:
            left = self.reserved.get(key, Decimal(0)) - held.amount
            if left > 0:
                self.reserved[key] = left
            else:
                self.reserved.pop(key, None)

    def _remember(self, call: str) -> None:
        self._calls[call] = None
        if len(self._calls) > _RECENT_CALLS:
            self._calls.popitem(last=False)

    def _housekeep(self, now: datetime) -> None:
        """Drop expired reservations and periods older than the previous one (at most 1/s)."""
        t = now.timestamp()
        if t < self._next_expiry:
            return
        self._next_expiry = t + _EXPIRY_CHECK_S
        for rid, held in [(r, h) for r, h in self.reservations.items() if h.expires_at < t]:
            self._release(rid, held)
        for key in list(self.spent):
            if _stale(key, now):
                del self.spent[key]
        for akey in list(self.alerted):
            if _stale(akey, now):
                del self.alerted[akey]


def _stale(key: str, now: datetime) -> bool:
    budget_id, period = key.split("|")[:2]
    return period < previous_period_key("day" if budget_id.startswith("day") else "month", now)


def _downgrade(
    budget: BudgetConfig, route: str, candidates: list[str], config: GatewayConfig
) -> tuple[str, list[str]]:
    target = budget.downgrade_to
    if target is None:  # validated: a soft budget has one
        return route, candidates
    if target.model is not None:
        return route, [target.model]
    found = config.route(target.route or "")
    if found is None:
        return route, candidates
    return found.name, list(dict.fromkeys([found.primary, *found.fallbacks]))
