"""Which attempts of a request this worker has started: dispatch's guard against forks."""

from __future__ import annotations

from collections import OrderedDict


class StartedAttempts:
    """The highest attempt this worker started per request (bounded, oldest forgotten).

    A crash replay can fork a request's chain of attempts in two; the copy whose attempt
    number was already started here is the fork, and is dropped.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._highest: OrderedDict[str, int] = OrderedDict()

    def first_start(self, request_id: str, attempt: int) -> bool:
        if self._highest.get(request_id, 0) >= attempt:
            return False
        self._highest[request_id] = attempt
        self._highest.move_to_end(request_id)
        while len(self._highest) > self.capacity:
            self._highest.popitem(last=False)
        return True

    def forget(self, request_id: str) -> None:
        self._highest.pop(request_id, None)
