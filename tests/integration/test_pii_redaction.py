"""PII redaction through the real broker, a worker process, its store and the emulator
(which echoes the prompt and keeps every body it received).

Three tenants: ``acme`` under placeholder mode (plain and streamed requests), ``maskco``
under mask mode, ``bank`` blocking payment cards and IBANs. The caller of a placeholder
request reads its own values back; the bank's request is a ``pii_blocked`` dead letter; a
request that fails the schema is a ``schema_invalid`` one, its payload and detail masked.
Then each planted value is searched for where it must not be: the bodies the emulator
received, the worker's log, every usage row in the store and the dead letters.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from policy.pii import find
from schemas.pii import PiiConfig
from store import UsageStore, open_backend
from tests.integration.harness import (
    Emulator,
    Worker,
    collect,
    gateway_config,
    publish,
    request_event,
    wait_committed,
)

pytestmark = pytest.mark.integration

EMAIL = "jane.doe@example.com"
PHONE = "+44 20 7946 0958"
CARD = "4111 1111 1111 1111"
IBAN = "GB82 WEST 1234 5698 7654 32"
IP = "203.0.113.42"
NIE = "Y5071503V"
AWS_KEY = "AKIAZ7Q4X2M9LKJH3F5D"
PLANTED = (EMAIL, PHONE, CARD, IBAN, IP, NIE, AWS_KEY)
# Each acme request's last message: two values, short enough that the emulator's echo
# holds both tokens whole.
PAIRS = [(EMAIL, PHONE), (CARD, IBAN), (IP, NIE), (AWS_KEY, EMAIL)]
SYSTEM = f"Support desk. Escalations: {EMAIL}, {PHONE}; card on file {CARD}; host {IP}."
PII = {
    "tenants": {
        "acme": {"mode": "placeholder"},
        "maskco": {"mode": "mask"},
        "bank": {"mode": "block", "kinds": ["payment_card", "iban"]},
    }
}
PROFILES = {"default": {"latency": {"dist": "fixed", "ms": 5}}, "capture": 500}
ROUTES = [{"name": "default", "primary": "gpt-4o-mini"}]
TOKEN = re.compile(r"<<\w+>>")


def _event(rid: str, tenant: str, text: str, **extra: Any) -> dict[str, Any]:
    event = request_event(rid, text, tenant=tenant, **extra)
    event["messages"].insert(0, {"role": "system", "content": SYSTEM})
    return event


def _requests() -> dict[str, dict[str, Any]]:
    made: dict[str, dict[str, Any]] = {}
    for i, (a, b) in enumerate(PAIRS):
        made[f"plain-{i}"] = _event(f"plain-{i}", "acme", f"{a} {b}")
        made[f"stream-{i}"] = _event(f"stream-{i}", "acme", f"{a} {b}", stream=True)
    made["masked"] = _event("masked", "maskco", f"{EMAIL} {PHONE}")
    made["blocked"] = _event("blocked", "bank", f"Pay from {IBAN} please")
    # Fails the schema (a key it does not know, named in the detail), from a tenant with
    # no policy of its own: its letter is masked with every policy's kinds.
    made["malformed"] = {**_event("malformed", "nobody", f"{EMAIL} {CARD}"), AWS_KEY: 1}
    return made


# No provider call and no usage row for these.
REFUSED = ("blocked", "malformed")


def _variants(value: str) -> list[str]:
    """The value as written and without its spaces: a log could hold either."""
    return [value, value.replace(" ", "")]


def _assert_nowhere(where: str, text: str) -> None:
    for value in PLANTED:
        for variant in _variants(value):
            assert variant not in text, f"{variant!r} found in {where}"


async def test_values_reach_the_caller_and_nothing_else(
    kafka_bootstrap: str, test_name: str, tmp_path: Path
) -> None:
    for value in PLANTED:  # every planted value is one the detectors find whole
        [found] = find(value, PiiConfig())
        assert (found.start, found.end) == (0, len(value))
    emulator = Emulator(tmp_path, PROFILES)
    config = gateway_config(tmp_path, emulator.url, test_name, routes=ROUTES, pii=PII)
    topics: dict[str, str] = yaml.safe_load(config.read_text())["topics"]
    worker = Worker(tmp_path, config, kafka_bootstrap)
    requests = _requests()
    try:
        await publish(
            kafka_bootstrap,
            topics["requests"],
            [(rid, orjson.dumps(event)) for rid, event in requests.items()],
        )

        def finished(got: dict[str, list[dict[str, Any]]]) -> bool:
            done = [u for u in got[topics["usage"]] if u["outcome"] != "started"]
            outcomes = len(got[topics["responses"]]) + len(got[topics["dlq"]])
            return outcomes >= len(requests) and len(done) >= len(requests) - 1

        got = await collect(
            kafka_bootstrap,
            [topics["responses"], topics["dlq"], topics["usage"], topics["chunks"]],
            finished,
            deadline_s=90,
        )
        await wait_committed(
            kafka_bootstrap, f"routeyard-{test_name}", topics["usage"], 4, deadline_s=30
        )
        received = httpx.get(f"{emulator.url}/_emulator/received", timeout=5).json()["received"]
    finally:
        assert worker.stop() == 0, worker.process.log_text()[-3000:]
        emulator.stop()

    responses = {r["request_id"]: r for r in got[topics["responses"]]}
    assert sorted(responses) == sorted(rid for rid in requests if rid not in REFUSED)

    # Placeholder: the provider saw tokens, echoed them, and the caller reads its values.
    chunks: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for chunk in got[topics["chunks"]]:
        chunks[chunk["request_id"]].append(chunk)
    for i, (a, b) in enumerate(PAIRS):
        for rid in (f"plain-{i}", f"stream-{i}"):
            response = responses[rid]
            assert a in response["content"] and b in response["content"], rid
            assert TOKEN.search(response["content"]) is None, response["content"]
            assert response["redaction"]["counts"]["email"] >= 1
            assert set(response["redaction"]["modes"].values()) == {"placeholder"}
        streamed = sorted(chunks[f"stream-{i}"], key=lambda c: c["seq"])
        assert len(streamed) == responses[f"stream-{i}"]["streamed"]["chunks"] > 1
        assert "".join(c["text"] for c in streamed) == responses[f"stream-{i}"]["content"]

    # Mask: the values are gone for good, for the caller too.
    masked = responses["masked"]
    assert "[EMAIL]" in masked["content"] and "[PHONE]" in masked["content"]
    _assert_nowhere("the masked response", orjson.dumps(masked).decode())

    # Block: a dead letter naming kinds and counts; no call was made for it.
    letters = {d["request_id"]: d for d in got[topics["dlq"]]}
    assert sorted(letters) == sorted(REFUSED)
    letter = letters["blocked"]
    assert (letter["request_id"], letter["reason"], letter["stage"]) == (
        "blocked",
        "pii_blocked",
        "triage",
    )
    assert "iban (1)" in letter["detail"] and "payment_card (1)" in letter["detail"]
    malformed = letters["malformed"]
    assert (malformed["reason"], malformed["payload_masked"]) == ("schema_invalid", True)
    assert "[EMAIL] [PAYMENT_CARD]" in malformed["payload"]
    assert "[SECRET]: Extra inputs are not permitted" in malformed["detail"]

    # What the provider received: every request but the blocked one, none with a value.
    assert len(received) == len(requests) - len(REFUSED)
    for body in received:
        assert body["body"]["messages"][0]["content"].startswith("Support desk. Escalations: ")
    _assert_nowhere("the bodies the emulator received", orjson.dumps(received).decode())
    _assert_nowhere("the dead letters", orjson.dumps(got[topics["dlq"]]).decode())
    _assert_nowhere("the usage topic", orjson.dumps(got[topics["usage"]]).decode())
    _assert_nowhere("the worker's log", worker.process.log_text())

    store = UsageStore(open_backend(tmp_path / "chdb"), "routeyard")
    try:
        rows = store.query("SELECT * FROM routeyard.usage")
    finally:
        store.backend.close()
    _assert_nowhere("the usage rows in the store", orjson.dumps(rows).decode())
    by_request = {r["request_id"]: r for r in rows if r["outcome"] != "started"}
    assert set(by_request) == set(requests) - {"malformed"}
    # The system prompt holds email, phone, card and ip; plain-0 adds an email and a phone.
    assert by_request["plain-0"]["pii_counts"] == {
        "email": 2,
        "ip_address": 1,
        "payment_card": 1,
        "phone": 2,
    }
    blocked = by_request["blocked"]
    assert (blocked["outcome"], blocked["error_kind"]) == ("rejected", "pii_blocked")
    assert blocked["pii_counts"]["iban"] == 1
