"""Bad input becomes a dead letter naming the problem; the requests behind it still flow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from tests.integration.harness import (
    Emulator,
    Worker,
    collect,
    gateway_config,
    publish,
    request_event,
)

pytestmark = pytest.mark.integration


async def test_malformed_input_is_dead_lettered_and_traffic_continues(
    kafka_bootstrap: str, test_name: str, tmp_path: Path
) -> None:
    emulator = Emulator(tmp_path, {"default": {"latency": {"dist": "fixed", "ms": 5}}})
    config = gateway_config(tmp_path, emulator.url, test_name)
    topics: dict[str, str] = yaml.safe_load(config.read_text())["topics"]
    worker = Worker(tmp_path, config, kafka_bootstrap)
    bad: list[tuple[str | None, bytes]] = [
        (None, b"this is { not json"),
        (
            "bad-schema",
            orjson.dumps({"request_id": "bad-schema", "tenant": "acme", "messages": "hi"}),
        ),
        ("bad-route", orjson.dumps(request_event("bad-route", "hello", route="platinum"))),
    ]
    good = [(f"ok-{i}", orjson.dumps(request_event(f"ok-{i}", "hello"))) for i in range(60)]
    # Bad events sit between good ones on the same topic.
    events = good[:20] + bad[:1] + good[20:40] + bad[1:] + good[40:]
    try:
        await publish(kafka_bootstrap, topics["requests"], events)

        def finished(got: dict[str, list[dict[str, Any]]]) -> bool:
            return len(got[topics["responses"]]) >= 60 and len(got[topics["dlq"]]) >= 3

        got = await collect(
            kafka_bootstrap, [topics["responses"], topics["dlq"]], finished, deadline_s=60
        )
    finally:
        assert worker.stop() == 0, worker.process.log_text()[-3000:]
        emulator.stop()

    assert sorted(r["request_id"] for r in got[topics["responses"]]) == sorted(k for k, _ in good)
    letters = {(d["reason"], d["request_id"]): d for d in got[topics["dlq"]]}
    assert set(letters) == {
        ("invalid_json", None),
        ("schema_invalid", "bad-schema"),
        ("unknown_route", "bad-route"),
    }
    assert letters[("invalid_json", None)]["payload"] == "this is { not json"
    assert "messages" in letters[("schema_invalid", "bad-schema")]["detail"]
    assert "'platinum'" in letters[("unknown_route", "bad-route")]["detail"]
