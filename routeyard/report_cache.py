"""``routeyard report``'s cache section: hits, hit rate and savings, by route and by kind.

Rendered from the ``/api/cache`` document (store/cache_stats.py). Its own module so the
report's main module stays about the usage summary and the router.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from routeyard.report import csv_table, money, text_table

_ROUTE_KEYS = ("route", "requests", "cache_hits", "hit_rate", "saved_usd")
_KIND_KEYS = ("cache", "cache_hits", "hit_rate", "saved_usd")
_TITLES = {"cache": "kind", "cache_hits": "hits", "hit_rate": "hit%", "saved_usd": "saved $"}


def cache_table(cache: Mapping[str, Any]) -> str:
    head = f"cache {cache.get('since')} .. {cache.get('until')}"
    total = cache.get("total") or {}
    if not int(total.get("requests") or 0):
        return f"{head}\nno requests in this range"
    lines = [head, "by route:"]
    lines += ["  " + line for line in text_table(cache.get("routes") or [], _ROUTE_KEYS, _TITLES)]
    lines.append("by kind:")
    lines += ["  " + line for line in text_table(cache.get("kinds") or [], _KIND_KEYS, _TITLES)]
    rate = float(total.get("hit_rate") or 0) * 100
    lines.append(
        f"cache answered {total.get('cache_hits', 0)} of {total.get('requests')} requests"
        f" ({rate:.1f}%) at no cost; those answers had cost ${money(total.get('saved_usd'))}"
        " when first made."
    )
    return "\n".join(lines)


def cache_csv(cache: Mapping[str, Any]) -> str:
    """Two CSV tables, routes then kinds, separated by an empty line."""
    return (
        csv_table(cache.get("routes") or [], _ROUTE_KEYS)
        + "\n"
        + csv_table(cache.get("kinds") or [], _KIND_KEYS)
    )
