"""Context windows through the real broker, a worker process and the emulator
(docs/design/request_policies.md). The small model's window is 2,000 tokens in the config
and in the emulator, so a request wrongly sent to it would be refused there:

- ``move`` (default): long conversations go to the long-context model, with no failed
  attempt (no call to the small model at all), short ones stay on the small model;
- ``fit``: the oldest turns are dropped, the system prompt and the last turns kept, as the
  emulator's own record of what it received shows;
- ``reject``: a ``context_too_long`` dead letter with the figures, no call.

Responses and usage rows say what was done (``context`` and ``context_action``)."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

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

SMALL_WINDOW = 2000
FAST = {"latency": {"dist": "uniform", "min_ms": 5, "max_ms": 20}}
PROFILES = {
    "seed": 14,
    "default": FAST,
    # Keeps what the fit route's calls carried (and the rest: 60 bodies in all).
    "capture": 100,
    "models": {"gpt-4o-mini": {**FAST, "context_window": SMALL_WINDOW}},
}
PRICES = {"input_per_mtok": "0.15", "output_per_mtok": "0.60"}
MODELS = {
    "small": {"provider": "openai", "upstream": "gpt-4o-mini", "context_window": SMALL_WINDOW}
    | PRICES,
    "long": {"provider": "openai", "upstream": "gpt-4o", "context_window": 128_000} | PRICES,
}
ROUTES = [
    {"name": "default", "primary": "small", "fallbacks": ["long"]},
    {
        "name": "fit",
        "by_name_only": True,
        "primary": "small",
        "context": {"on_overflow": "fit", "fit": {"keep_last_turns": 2}},
    },
    {
        "name": "strict",
        "by_name_only": True,
        "primary": "small",
        "fallbacks": ["long"],
        "context": {"on_overflow": "reject"},
    },
]
SYSTEM = "You are a careful assistant. Answer in one sentence."
SENTENCE = "the harbour lights went out one by one as the fog rolled over the old stone pier"
N = {"short": 8, "move": 12, "fit": 8, "strict": 4}
# The fit route's output allowance: the fitted input (o200k tokens with a 2 % margin) plus
# this stays under the window, and the emulator's rougher count (4 characters a token)
# of that input too.
FIT_MAX_TOKENS = 600


def _conversation(rid: str, turns: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    for t in range(turns):
        body = " ".join([SENTENCE] * 8)
        messages.append({"role": "user", "content": f"{rid} question {t}: {body}"})
        messages.append({"role": "assistant", "content": f"{rid} answer {t}: {body}"})
    messages.append({"role": "user", "content": f"{rid} last question: and so?"})
    return messages


def _requests() -> dict[str, tuple[str, dict[str, Any]]]:
    made: dict[str, tuple[str, dict[str, Any]]] = {}
    for kind, count in N.items():
        for i in range(count):
            rid = f"{kind}-{i}"
            if kind == "short":
                event = request_event(rid, f"Name a harbour ({rid})", params={"max_tokens": 100})
            else:
                extra: dict[str, Any] = {"params": {"max_tokens": 300}}
                if kind != "move":
                    extra = {"route": kind, "params": {"max_tokens": FIT_MAX_TOKENS}}
                event = {**request_event(rid, "x", **extra), "messages": _conversation(rid, 12)}
            made[rid] = (kind, event)
    return made


def _received(emulator: Emulator) -> list[dict[str, Any]]:
    reply = httpx.get(f"{emulator.url}/_emulator/received", timeout=5)
    reply.raise_for_status()
    bodies: list[dict[str, Any]] = reply.json()["received"]
    return bodies


async def test_context_windows_move_fit_and_reject(
    kafka_bootstrap: str, test_name: str, tmp_path: Path
) -> None:
    emulator = Emulator(tmp_path, PROFILES)
    # The heuristic scorer: routing by score plays no part here.
    config = gateway_config(
        tmp_path,
        emulator.url,
        test_name,
        models=MODELS,
        routes=ROUTES,
        router={"scorer": "heuristic"},
    )
    topics: dict[str, str] = yaml.safe_load(config.read_text())["topics"]
    worker = Worker(tmp_path, config, kafka_bootstrap)
    requests = _requests()
    try:
        await publish(
            kafka_bootstrap,
            topics["requests"],
            [(rid, orjson.dumps(event)) for rid, (_, event) in requests.items()],
        )

        def finished(got: dict[str, list[dict[str, Any]]]) -> bool:
            return len(got[topics["responses"]]) + len(got[topics["dlq"]]) >= len(requests)

        got = await collect(
            kafka_bootstrap, [topics["responses"], topics["dlq"]], finished, deadline_s=120
        )
        await wait_committed(
            kafka_bootstrap, f"routeyard-{test_name}", topics["usage"], 4, deadline_s=30
        )
        stats = emulator.stats()
        received = _received(emulator)
    finally:
        assert worker.stop() == 0, worker.process.log_text()[-3000:]
        emulator.stop()

    responses = {r["request_id"]: r for r in got[topics["responses"]]}
    letters = {d["request_id"]: d for d in got[topics["dlq"]]}
    outcomes = Counter(e["request_id"] for e in got[topics["responses"]] + got[topics["dlq"]])
    assert outcomes == dict.fromkeys(requests, 1), "lost or answered twice"
    assert set(letters) == {rid for rid, (kind, _) in requests.items() if kind == "strict"}

    store = UsageStore(open_backend(tmp_path / "chdb"), "routeyard")
    try:
        rows = store.query(
            "SELECT request_id, model, outcome, error_kind, context_action"
            " FROM routeyard.usage_dedup ORDER BY request_id, attempt"
        )
    finally:
        store.backend.close()
    by_request: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_request[row["request_id"]].append(row)

    for rid, (kind, _) in requests.items():
        calls = [(r["model"], r["outcome"], r["context_action"]) for r in by_request[rid]]
        if kind == "strict":
            letter = letters[rid]
            assert (letter["stage"], letter["reason"]) == ("triage", "context_too_long")
            record = letter["context"]
            assert (record["action"], record["model"], record["window"]) == (
                "rejected",
                "small",
                SMALL_WINDOW,
            )
            assert (record["max_tokens"], record["margin"]) == (FIT_MAX_TOKENS, 0.02)
            assert record["tokens_before"] > SMALL_WINDOW
            assert f"> context_window {SMALL_WINDOW}" in letter["detail"]
            assert f"~{record['tokens_before']} input tokens +2% margin" in letter["detail"]
            assert calls == [("", "rejected", "rejected")]
            assert by_request[rid][0]["error_kind"] == "context_too_long"
            continue
        response = responses[rid]
        assert response["attempts"] == 1, response
        if kind == "short":
            assert (response["model"], response["context"]) == ("small", None)
            assert calls == [("small", "success", "")]
        elif kind == "move":
            assert response["model"] == "long"
            context = response["context"]
            assert (context["action"], context["moved_from"]) == ("moved", "small")
            assert context["model"] == "long" and context["tokens_before"] > SMALL_WINDOW
            assert calls == [("long", "success", "moved")]  # no failed call before it
        else:
            assert response["model"] == "small"
            context = response["context"]
            assert context["action"] == "fitted" and context["turns_dropped"] > 0
            assert context["tokens_after"] < context["tokens_before"]
            assert calls == [("small", "success", "fitted")]

    # What the small model received on the fit route: the system prompt, then the newest
    # turns exactly as sent, whole; nothing else.
    fitted = [b["body"] for b in received if _rid(b["body"]).startswith("fit-")]
    assert len(fitted) == N["fit"]
    for body in fitted:
        rid = _rid(body)
        sent = requests[rid][1]["messages"]
        got_messages = [{"role": m["role"], "content": m["content"]} for m in body["messages"]]
        assert got_messages[0] == sent[0]  # the system prompt
        kept = len(got_messages) - 1
        assert 3 <= kept < len(sent) - 1
        assert got_messages[1:] == sent[-kept:]  # the newest messages, in order
        assert got_messages[1]["role"] == "user"  # whole turns
        turns_dropped = (len(sent) - 1 - kept) // 2
        assert responses[rid]["context"]["turns_dropped"] == turns_dropped

    # No call was refused for its length; the small model never saw a long conversation.
    made = {model: counts["outcomes"] for model, counts in stats["models"].items()}
    assert made == {
        "gpt-4o-mini": {"ok": N["short"] + N["fit"]},
        "gpt-4o": {"ok": N["move"]},
    }, made
    print(
        f"\ncontext windows: {N['move']} moved, {N['fit']} fitted (turns dropped:"
        f" {sorted({responses[f'fit-{i}']['context']['turns_dropped'] for i in range(N['fit'])})}),"
        f" {N['strict']} rejected; emulator calls {made}"
    )


def _rid(body: dict[str, Any]) -> str:
    """The request id each test conversation writes at the start of its user messages."""
    messages = body.get("messages") or []
    user = next((m for m in messages if m.get("role") == "user"), None)
    return str(user["content"]).split(" ", 1)[0] if user else ""
