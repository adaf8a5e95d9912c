"""Two ways to reach ClickHouse with the same SQL.

- :class:`ServerBackend`: clickhouse-connect over HTTP, when ``CLICKHOUSE_URL`` is set
  (``http://user:password@host:8123/database``).
- :class:`EmbeddedBackend`: the embedded engine (chdb) with its data in a local folder.

Both raise :class:`StoreUnavailable` when the engine cannot run a statement; callers that
must lose nothing (the usage sink) keep their batch and try again.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import orjson


class StoreUnavailable(Exception):
    """The store could not execute a statement (down, unreachable, or rejected it)."""


class StoreBackend(Protocol):
    description: str

    def command(self, sql: str) -> None: ...

    def insert_json_rows(self, table: str, rows: Sequence[dict[str, Any]]) -> None: ...

    def query(self, sql: str) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


def _json_default(value: Any) -> Any:
    return str(value)


class EmbeddedBackend:
    """chdb in this process; one session per data folder."""

    def __init__(self, path: str | Path) -> None:
        from chdb import session  # imported lazily: it loads a large native library

        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.description = f"embedded ClickHouse (chdb) at {self.path}"
        try:
            self._session = session.Session(str(self.path))
        except RuntimeError as exc:
            raise StoreUnavailable(
                f"{self.description}: cannot open it. The embedded engine lets one process"
                " use a folder at a time: stop the worker that holds it, or set CLICKHOUSE_URL"
                f" to a ClickHouse server. ({exc})"
            ) from exc

    def _run(self, sql: str, fmt: str = "CSV") -> Any:
        try:
            return self._session.query(sql, fmt)
        except Exception as exc:  # chdb raises a bare RuntimeError-like type for SQL errors
            raise StoreUnavailable(f"{self.description}: {exc}") from exc

    def command(self, sql: str) -> None:
        self._run(sql)

    def insert_json_rows(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        body = b"\n".join(orjson.dumps(r, default=_json_default) for r in rows)
        self._run(f"INSERT INTO {table} FORMAT JSONEachRow\n" + body.decode())

    def query(self, sql: str) -> list[dict[str, Any]]:
        result = self._run(f"{sql} SETTINGS output_format_json_quote_decimals = 1", "JSONEachRow")
        data = result.bytes()
        return [orjson.loads(line) for line in data.splitlines() if line]

    def close(self) -> None:
        self._session.close()


class ServerBackend:
    """A ClickHouse server through clickhouse-connect."""

    def __init__(self, url: str) -> None:
        import clickhouse_connect
        from clickhouse_connect.driver.exceptions import ClickHouseError

        self._errors: tuple[type[Exception], ...] = (ClickHouseError, OSError)
        # The URL may hold a password: describe the server without it.
        host = url.split("@")[-1]
        self.description = f"ClickHouse server at {host}"
        try:
            self._client = clickhouse_connect.get_client(dsn=url)
        except self._errors as exc:
            raise StoreUnavailable(f"{self.description}: {exc}") from exc

    def command(self, sql: str) -> None:
        try:
            self._client.command(sql)
        except self._errors as exc:
            raise StoreUnavailable(f"{self.description}: {exc}") from exc

    def insert_json_rows(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        body = b"\n".join(orjson.dumps(r, default=_json_default) for r in rows)
        try:
            self._client.raw_insert(table, insert_block=body, fmt="JSONEachRow")
        except self._errors as exc:
            raise StoreUnavailable(f"{self.description}: {exc}") from exc

    def query(self, sql: str) -> list[dict[str, Any]]:
        try:
            result = self._client.raw_query(
                sql, fmt="JSONEachRow", settings={"output_format_json_quote_decimals": 1}
            )
        except self._errors as exc:
            raise StoreUnavailable(f"{self.description}: {exc}") from exc
        return [orjson.loads(line) for line in result.splitlines() if line]

    def close(self) -> None:
        self._client.close()


def open_backend(embedded_path: str | Path) -> StoreBackend:
    """The server named by CLICKHOUSE_URL if set, else the embedded engine."""
    url = os.environ.get("CLICKHOUSE_URL")
    if url:
        return ServerBackend(url)
    return EmbeddedBackend(embedded_path)
