"""A circuit breaker per deployment (provider + upstream model), and its latency EWMA.

States (docs/design/routing.md):

- **closed**: every call goes through. Over a sliding window of ``window_s`` it opens when
  the share of failures reaches ``failure_rate`` (with at least ``min_calls`` calls in the
  window), or after ``consecutive_failures`` failures in a row.
- **open**: no call goes through for ``cooldown_s``. The first opening after a close lasts
  the configured ``cooldown_s``; each re-opening from half-open doubles it, up to
  ``cooldown_max_s``.
- **half_open**: once the cool-down has passed, up to ``probe_calls`` calls at once go
  through; the first probe to succeed closes the breaker, the first to fail opens it again.

Only the caller knows which failures say something about the deployment: it records
``ok=False`` for the retryable kinds (timeouts, 5xx, overload, rate limits, connection
errors) and ``ok=True`` for an answer, including a permanent error the deployment gave.

Times are epoch seconds, so a transition one worker publishes means the same moment on
every worker: all of them leave the open state together. The breaker is pure; sharing its
transitions is ``streams/health.py``'s job (:meth:`Breaker.apply`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from schemas.config import BreakerConfig
from schemas.health import BreakerState

# Weight of the newest success in the latency average: about the last 10 calls count.
LATENCY_ALPHA = 0.2


@dataclass(frozen=True)
class Transition:
    """A breaker's new state, as one worker saw it begin."""

    state: BreakerState
    since: float  # epoch seconds
    cooldown_s: float  # the open state's length (for half_open: the one it came from)


def state_at(transition: Transition, now: float) -> Transition:
    """A published state as it stands at ``now``: open turns half-open after its cool-down."""
    if transition.state == "open" and now >= transition.since + transition.cooldown_s:
        return Transition(
            "half_open", transition.since + transition.cooldown_s, transition.cooldown_s
        )
    return transition


class Breaker:
    def __init__(self, config: BreakerConfig) -> None:
        self.config = config
        self.state: BreakerState = "closed"
        self.since = 0.0
        self.opened_at = 0.0
        self.cooldown_s = config.cooldown_s
        self.consecutive_failures = 0
        self.latency_ewma_ms: float | None = None
        self.latency_at: float | None = None
        self.reason = ""  # why the last local transition happened, for the log
        self._calls: deque[tuple[float, bool]] = deque()  # (time, ok), closed state only
        self._failures = 0  # failures among _calls
        self._probes: deque[float] = deque()  # start times of probes in flight

    # -- decisions -------------------------------------------------------------------

    def state_at(self, now: float) -> BreakerState:
        """The state at ``now``: an open breaker whose cool-down has passed is half-open."""
        if self.state == "open" and now >= self.opened_at + self.cooldown_s:
            self.state = "half_open"
            # The moment follows from the opening, so every worker that knows the opening
            # agrees on it without a message.
            self.since = self.opened_at + self.cooldown_s
            self._probes.clear()
        return self.state

    def allow(self, now: float) -> bool:
        """May a call start now? A call allowed while half-open is a probe: record it."""
        state = self.state_at(now)
        if state == "closed":
            return True
        if state == "open":
            return False
        # A probe with no result after a window is taken as lost (a cancelled call that
        # never reported), so a lost probe cannot keep the breaker shut for ever.
        while self._probes and self._probes[0] <= now - self.config.window_s:
            self._probes.popleft()
        if len(self._probes) >= self.config.probe_calls:
            return False
        self._probes.append(now)
        return True

    def release(self, now: float) -> None:
        """A call :meth:`allow` let through ended without a result (cancelled)."""
        if self.state_at(now) == "half_open" and self._probes:
            self._probes.popleft()

    def record(self, ok: bool, now: float, latency_ms: float | None = None) -> Transition | None:
        """Count a call's result; returns the new state when this result changes it.

        ``latency_ms`` of a success feeds the latency average.
        """
        if ok and latency_ms is not None:
            self.observe_latency(latency_ms, now)
        state = self.state_at(now)
        if state == "open":
            # A call that started before the opening: it tells nothing the opening did not.
            return None
        if state == "half_open":
            if not self._probes:
                return None  # not a probe: it started before the breaker opened
            self._probes.popleft()
            if ok:
                self.reason = "a probe succeeded"
                return self._close(now)
            self.reason = "a probe failed"
            return self._open(now, min(self.cooldown_s * 2, self.config.cooldown_max_s))
        self._calls.append((now, ok))
        if not ok:
            self._failures += 1
        self._prune(now)
        if ok:
            self.consecutive_failures = 0
            return None
        self.consecutive_failures += 1
        calls = len(self._calls)
        if self.consecutive_failures >= self.config.consecutive_failures:
            self.reason = f"{self.consecutive_failures} failures in a row"
        elif calls >= self.config.min_calls and self._failures / calls >= self.config.failure_rate:
            self.reason = f"{self._failures} failures of {calls} calls in {self.config.window_s:g}s"
        else:
            return None
        return self._open(now, self.cooldown_s)

    def apply(self, transition: Transition) -> bool:
        """Take a state another worker published, unless this breaker knows a later one.

        Returns whether the state changed. Of two workers opening at nearly the same time,
        both end with the later opening (and its cool-down).
        """
        if transition.since <= self.since:
            return False
        self.state = transition.state
        self.since = transition.since
        self._probes.clear()
        if transition.state == "closed":
            self.cooldown_s = self.config.cooldown_s
            return True
        self.cooldown_s = transition.cooldown_s
        self.opened_at = (
            transition.since
            if transition.state == "open"
            else transition.since - transition.cooldown_s
        )
        self._reset_window()
        return True

    # -- figures ---------------------------------------------------------------------

    def observe_latency(self, latency_ms: float, now: float) -> None:
        if self.latency_ewma_ms is None:
            self.latency_ewma_ms = latency_ms
        else:
            self.latency_ewma_ms += LATENCY_ALPHA * (latency_ms - self.latency_ewma_ms)
        self.latency_at = now

    def calls_in_window(self, now: float) -> int:
        self._prune(now)
        return len(self._calls)

    def error_rate(self, now: float) -> float:
        """Failures / calls in the window while closed; 0 without calls."""
        self._prune(now)
        return self._failures / len(self._calls) if self._calls else 0.0

    def transition(self, now: float) -> Transition:
        """The current state as another worker would apply it."""
        return Transition(self.state_at(now), self.since, self.cooldown_s)

    # -- inside ----------------------------------------------------------------------

    def _open(self, now: float, cooldown_s: float) -> Transition:
        self.state = "open"
        self.since = self.opened_at = now
        self.cooldown_s = cooldown_s
        self._probes.clear()
        self._reset_window()
        return Transition("open", now, cooldown_s)

    def _close(self, now: float) -> Transition:
        self.state = "closed"
        self.since = now
        self.cooldown_s = self.config.cooldown_s
        self._probes.clear()
        # The calls before the opening must not count against the deployment again.
        self._reset_window()
        return Transition("closed", now, self.cooldown_s)

    def _reset_window(self) -> None:
        self._calls.clear()
        self._failures = 0
        self.consecutive_failures = 0

    def _prune(self, now: float) -> None:
        horizon = now - self.config.window_s
        while self._calls and self._calls[0][0] <= horizon:
            _, ok = self._calls.popleft()
            if not ok:
                self._failures -= 1
