"""The alert rules' evaluator: windows per (rule, key) and a state per key; no I/O.

:meth:`AlertEvaluator.observe` counts a completed call in the window of every rule, keyed
by the rule's dimension (the call's model, provider, tenant or route);
:meth:`AlertEvaluator.evaluate` turns what the windows say into firing and resolved
events. Times are epoch seconds passed in by the caller. The rules, hysteresis and the
restart story: docs/design/alerts.md.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from policy.alert_window import CallFact, Window, WindowStats
from schemas.alerts import AlertReason, AlertRule, AlertState, RuleAlert

# Usage events come at least once; a repeat of a call is recognised this long, for at most
# this many calls (memory). Replays by a gateway worker come within seconds.
SEEN_HORIZON_S = 300.0
SEEN_CAPACITY = 200_000

_EMPTY = WindowStats()


@dataclass(slots=True)
class KeyState:
    firing_since: float | None = None
    breach_since: float | None = None  # breaching, not firing yet (for_s)
    healthy_since: float | None = None  # firing and healthy, not resolved yet (resolve_for_s)
    value: float | None = None
    samples: int = 0

    @property
    def idle(self) -> bool:
        return self.firing_since is None and self.breach_since is None


class AlertEvaluator:
    def __init__(self, rules: Sequence[AlertRule], started_at: float) -> None:
        """``started_at``: when this evaluator began to see calls (an empty window before
        ``started_at + window_s`` is not yet evidence of anything)."""
        self.rules = {rule.name: rule for rule in rules}
        self.started_at = started_at
        self._windows: dict[str, dict[str, Window]] = {name: {} for name in self.rules}
        self._states: dict[str, dict[str, KeyState]] = {name: {} for name in self.rules}
        largest = max((rule.window_s for rule in rules), default=0.0)
        self._seen_horizon_s = min(largest, SEEN_HORIZON_S)
        self._seen: set[str] = set()
        self._seen_order: deque[tuple[float, str]] = deque()
        self.observed = 0
        self.duplicates = 0

    # -- calls in ----------------------------------------------------------------------

    def observe(self, fact: CallFact, now: float) -> bool:
        """Count a completed call; False for a call counted already (or no rule at all)."""
        if not self.rules:
            return False
        if self._repeated(fact.call_id, now):
            self.duplicates += 1
            return False
        self.observed += 1
        for rule in self.rules.values():
            key = fact.dim(rule.by)
            if not key:
                continue
            windows = self._windows[rule.name]
            window = windows.get(key)
            if window is None:
                window = windows[key] = Window(rule.window_s, rule.metric == "p95_latency_ms")
            window.add(fact, now)
        return True

    def _repeated(self, call_id: str, now: float) -> bool:
        order, cutoff = self._seen_order, now - self._seen_horizon_s
        while order and (order[0][0] < cutoff or len(order) > SEEN_CAPACITY):
            self._seen.discard(order.popleft()[1])
        if call_id in self._seen:
            return True
        self._seen.add(call_id)
        order.append((now, call_id))
        return False

    # -- decisions ---------------------------------------------------------------------

    def evaluate(self, now: float) -> list[RuleAlert]:
        """The transitions at ``now``, in rule order then key order."""
        out: list[RuleAlert] = []
        for rule in self.rules.values():
            windows, states = self._windows[rule.name], self._states[rule.name]
            for key in sorted(windows.keys() | states.keys()):
                window = windows.get(key)
                stats = window.stats(now) if window is not None else _EMPTY
                state = states.get(key) or KeyState()
                alert = self._step(rule, key, state, stats, now)
                if alert is not None:
                    out.append(alert)
                if window is not None and window.empty:
                    del windows[key]
                if state.idle and stats.calls == 0:
                    states.pop(key, None)
                else:
                    states[key] = state
        return out

    def _step(
        self, rule: AlertRule, key: str, state: KeyState, stats: WindowStats, now: float
    ) -> RuleAlert | None:
        n = stats.samples(rule.metric)
        value = stats.value(rule.metric)
        state.value, state.samples = value, n
        judged = value if n >= rule.calls_needed else None  # too few calls: no verdict
        if state.firing_since is None:
            if judged is None or judged < rule.threshold:
                state.breach_since = None
                return None
            if state.breach_since is None:
                state.breach_since = now
            if now - state.breach_since < rule.for_s:
                return None
            state.firing_since, state.breach_since, state.healthy_since = now, None, None
            return self._event(rule, key, "firing", "above_threshold", state, now)
        reason: AlertReason | None = None
        if n == 0:
            # Right after a start the window is empty for want of history, not of calls.
            if now - self.started_at >= rule.window_s:
                reason = "no_calls"
        elif judged is not None and judged < rule.resolve_level:
            reason = "below_threshold"
        if reason is None:
            state.healthy_since = None
            return None
        if state.healthy_since is None:
            state.healthy_since = now
        if now - state.healthy_since < rule.resolve_for_s:
            return None
        alert = self._event(rule, key, "resolved", reason, state, now)
        state.firing_since, state.healthy_since = None, None
        return alert

    @staticmethod
    def _event(
        rule: AlertRule,
        key: str,
        state: AlertState,
        reason: AlertReason,
        key_state: KeyState,
        now: float,
    ) -> RuleAlert:
        assert key_state.firing_since is not None, "only a firing key has events"
        return RuleAlert(
            state=state,
            rule=rule.name,
            metric=rule.metric,
            by=rule.by,
            dims={rule.by: key},
            value=key_state.value,
            samples=key_state.samples,
            threshold=rule.threshold,
            window_s=rule.window_s,
            reason=reason,
            since=_time(key_state.firing_since),
            at=_time(now),
        )

    # -- restart -----------------------------------------------------------------------

    def restore(self, alerts: Iterable[RuleAlert], now: float) -> list[RuleAlert]:
        """Take back what was firing from the alerts topic, read in order.

        The last event per key decides. Returns resolutions to publish for keys firing
        under a rule that is gone or now measures something else.
        """
        last: dict[str, RuleAlert] = {}
        for alert in alerts:
            last[alert.key] = alert
        out: list[RuleAlert] = []
        for alert in last.values():
            if alert.state != "firing":
                continue
            rule = self.rules.get(alert.rule)
            if (
                rule is None
                or rule.metric != alert.metric
                or rule.by != alert.by
                or set(alert.dims) != {rule.by}
            ):
                out.append(_rule_changed(alert, now))
                continue
            state = self._states[rule.name].setdefault(alert.dims[rule.by], KeyState())
            if state.firing_since is None:
                state.firing_since = alert.since.timestamp()
                state.value, state.samples = alert.value, alert.samples
        return out

    # -- reading -----------------------------------------------------------------------

    def state(self) -> list[dict[str, Any]]:
        """Each rule with its firing and pending keys, JSON-able (for /api/alerts)."""
        rules: list[dict[str, Any]] = []
        for rule in self.rules.values():
            firing, pending = [], []
            for key, state in sorted(self._states[rule.name].items()):
                entry: dict[str, Any] = {
                    "dims": {rule.by: key},
                    "value": state.value,
                    "samples": state.samples,
                }
                if state.firing_since is not None:
                    firing.append({**entry, "since": _iso(state.firing_since)})
                elif state.breach_since is not None:
                    pending.append({**entry, "breaching_since": _iso(state.breach_since)})
            rules.append(
                {
                    "name": rule.name,
                    "metric": rule.metric,
                    "by": rule.by,
                    "window_s": rule.window_s,
                    "threshold": rule.threshold,
                    "resolve_below": rule.resolve_level,
                    "min_calls": rule.calls_needed,
                    "for_s": rule.for_s,
                    "resolve_for_s": rule.resolve_for_s,
                    "firing": firing,
                    "pending": pending,
                }
            )
        return rules


def _rule_changed(alert: RuleAlert, now: float) -> RuleAlert:
    return RuleAlert(
        state="resolved",
        rule=alert.rule,
        metric=alert.metric,
        by=alert.by,
        dims=alert.dims,
        value=None,
        samples=0,
        threshold=alert.threshold,
        window_s=alert.window_s,
        reason="rule_changed",
        since=alert.since,
        at=_time(now),
    )


def _time(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def _iso(epoch_s: float) -> str:
    return _time(epoch_s).isoformat().replace("+00:00", "Z")
