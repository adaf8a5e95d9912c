"""Where ``routeyard report`` gets its answers, in the order the design gives.

1. ``CLICKHOUSE_URL`` set: the ClickHouse server, queried from this process;
2. the analytics process's API at ``analytics.listen`` (it owns the embedded store);
3. nobody answers there: the embedded folder, opened here (only while no process holds it).

Failures come back as one :class:`AnalyticsUnreachable` naming every place tried.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from routeyard.web.api import answer
from schemas.config import GatewayConfig
from store import StoreUnavailable, UsageStore, open_backend
from store.queries import QueryError

_TIMEOUT_S = 60.0


class AnalyticsUnreachable(Exception):
    """No source of analytics answered; the message names each one tried."""


def _direct(config: GatewayConfig, endpoint: str, params: Mapping[str, str]) -> dict[str, Any]:
    store = UsageStore(open_backend(config.store.path), config.store.database)
    try:
        store.ensure_schema()
        return answer(endpoint, params, store, config)
    finally:
        store.backend.close()


def _from_api(config: GatewayConfig, endpoint: str, params: Mapping[str, str]) -> dict[str, Any]:
    """The analytics process's answer; ConnectError when nothing listens there."""
    url = config.analytics.url + endpoint
    response = httpx.get(url, params=dict(params), timeout=_TIMEOUT_S)
    try:
        decoded = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        # An analytics process older than this client answers unknown endpoints with a
        # plain-text 404.
        raise StoreUnavailable(
            f"the analytics process at {url} answered {response.status_code} without JSON"
            f" (is it older than this routeyard?): {response.text[:200]!r}"
        ) from exc
    body: dict[str, Any] = decoded if isinstance(decoded, dict) else {}
    if response.status_code == 400:
        error = body.get("error", {})
        raise QueryError(str(error.get("param") or "query"), str(error.get("message")))
    if response.status_code != 200:
        message = body.get("error", {}).get("message", response.text)
        raise StoreUnavailable(
            f"the analytics process at {url} answered {response.status_code}: {message}"
        )
    return body


def fetch_json(config: GatewayConfig, endpoint: str, params: Mapping[str, str]) -> dict[str, Any]:
    if os.environ.get("CLICKHOUSE_URL"):
        return _direct(config, endpoint, params)
    try:
        return _from_api(config, endpoint, params)
    except httpx.ConnectError as unreachable:
        try:
            return _direct(config, endpoint, params)
        except StoreUnavailable as held:
            raise AnalyticsUnreachable(
                f"no analytics process answers at {config.analytics.url} ({unreachable}),"
                f" and the embedded store could not be opened here: {held}"
            ) from held
    except httpx.HTTPError as exc:
        raise AnalyticsUnreachable(
            f"the analytics process at {config.analytics.url} did not answer: {exc!r}"
        ) from exc
