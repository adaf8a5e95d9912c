"""The report's client against an analytics process that does not speak its API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from routeyard.analytics_client import fetch_json
from schemas.config import AnalyticsConfig
from schemas.config_loader import load_config
from store import StoreUnavailable
from tests.paths import EXAMPLE_CONFIG


class _PlainNotFound(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"404: Not Found"
        self.send_response(404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def old_analytics() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PlainNotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_plain_text_404_is_a_clear_error(
    old_analytics: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLICKHOUSE_URL", raising=False)
    config = load_config(EXAMPLE_CONFIG)
    config = config.model_copy(update={"analytics": AnalyticsConfig(listen=old_analytics)})
    with pytest.raises(StoreUnavailable, match="answered 404 without JSON") as caught:
        fetch_json(config, "/api/scores", {})
    assert "404: Not Found" in str(caught.value)
