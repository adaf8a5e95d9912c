"""Hit rate and savings of the response cache, overall, by route and by kind.

One query, :func:`store.queries.summary` by (route, cache), and sums here: a route's
requests are its rows' sum, the row with ``cache`` '' holding those not answered from
the cache (misses, uncacheable, rejected) and each kind's row its hits. A kind's
``hit_rate`` is its hits over all requests in the range, so the kinds' rates add up to
the overall rate. Same definitions as the summary (store/queries.py): a hit is a request
answered at no cost, ``saved_usd`` what its answer cost when it was made.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from store.queries import Source, TimeRange, summary, usd
from store.usage import UsageStore

KINDS = ("exact", "semantic", "coalesced")


def _figures(requests: int, hits: int, saved: Decimal) -> dict[str, Any]:
    rate = round(hits / requests, 4) if requests else 0.0
    return {"requests": requests, "cache_hits": hits, "hit_rate": rate, "saved_usd": usd(saved)}


def _kind(kind: str, requests: int, hits: int, saved: Decimal) -> dict[str, Any]:
    figures = _figures(requests, hits, saved)
    del figures["requests"]  # every kind's is the total's: not repeated
    return {"cache": kind, **figures}


def cache_summary(
    store: UsageStore, window: TimeRange, source: Source = "rollup"
) -> dict[str, Any]:
    """``total``, ``routes`` (every route with requests, by name) and ``kinds`` (every
    kind, in :data:`KINDS` order, zeros included so a reader sees what was possible)."""
    rows = summary(store, window, ["route", "cache"], source)
    routes: dict[str, list[Any]] = {}
    kinds: dict[str, list[Any]] = {kind: [0, Decimal(0)] for kind in KINDS}
    for row in rows:
        route = routes.setdefault(str(row["route"]), [0, 0, Decimal(0)])
        saved = Decimal(row["saved_usd"])
        route[0] += row["requests"]
        route[1] += row["cache_hits"]
        route[2] += saved
        kind = str(row["cache"])
        if kind:
            # A kind a newer worker writes is shown, not dropped.
            found = kinds.setdefault(kind, [0, Decimal(0)])
            found[0] += row["cache_hits"]
            found[1] += saved
    requests = sum(r[0] for r in routes.values())
    hits = sum(r[1] for r in routes.values())
    saved = sum((r[2] for r in routes.values()), Decimal(0))
    return {
        "total": _figures(requests, hits, saved),
        "routes": [
            {"route": name, **_figures(*figures)}
            for name, figures in sorted(routes.items())
            if figures[0]
        ],
        "kinds": [
            _kind(kind, requests, k_hits, k_saved) for kind, (k_hits, k_saved) in kinds.items()
        ],
    }
