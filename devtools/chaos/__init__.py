"""The chaos run: real broker, emulator and worker processes through crashes and outages.

Run by ``python -m devtools chaos`` (``make chaos``, full scale) and by
``tests/integration/test_chaos.py`` (CI scale). Paced traffic (valid requests, some with
an image by URL, plus events that are not JSON or fail the schema) runs while faults
happen at planned times:

- gateway workers are SIGKILLed and replaced at once;
- a provider outage: the emulator drops every call without an answer (counting it);
- a store outage: the analytics process is SIGKILLed, another process holds the
  embedded store's folder lock, a new analytics process starts while it is held (its
  inserts fail and back off), then the lock is released;
- throughout: hangs past the provider timeout, 429s and 5xx from the emulator.

Then it waits for the pipeline to drain and measures what the architecture promises:
exactly one outcome per request, every bad event dead-lettered, one usage row per
physical provider call. It measures; it does not assume the pipeline meets them.

Modules, one job each: ``plan`` (scale, schedule, traffic), ``fleet`` (worker processes),
``faults`` (what is injected), ``observe`` (outcomes, lag, usage rows), ``result`` (the
accounting), ``report`` (the text), ``run`` (puts them together), ``cli`` (the command).
"""

from devtools.chaos.observe import Outcomes
from devtools.chaos.plan import ChaosPlan, Event, build_traffic
from devtools.chaos.report import render
from devtools.chaos.result import ChaosResult, summarize
from devtools.chaos.run import run_chaos

__all__ = [
    "ChaosPlan",
    "ChaosResult",
    "Event",
    "Outcomes",
    "build_traffic",
    "render",
    "run_chaos",
    "summarize",
]
