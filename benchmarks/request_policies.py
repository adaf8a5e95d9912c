"""Latency the request policies of issue 14 add per request, p50/p99 over a realistic mix.

PII redaction (docs/design/request_policies.md): what a request pays on top of routing,
measured on the functions the stages call, without network or broker:

- ``triage block``: the scan that decides a ``pii_blocked`` dead letter (every kind on,
  one of them blocked), run by triage for routes or tenants with a blocking policy.
- ``dispatch placeholder``: the attempt's redaction of every covered text (messages,
  tool-call arguments, tool results) into tokens, then restoring the answer: the whole
  response and, for a streamed one, the same answer fed 16 characters a chunk through the
  stream restorer (as the emulator streams it). The answer echoes the last message, as
  the emulator does, so it carries tokens to restore.
- ``dispatch mask``: the redaction alone (a mask has nothing to restore).
- ``block + placeholder``: a tenant that blocks cards under a default that tokenises the
  rest: the triage scan and the dispatch side, both paid by a request that passes.

The mix: 70% chat (a system prompt and 1-6 turns of 0.2-1.5 KB), 20% tool use (a tool
call's arguments and a 1-4 KB tool result on top), 8% pasted code or logs (10-40 KB), 2%
long documents (100 KB); personal data planted every ~800 characters of chat and ~4 KB
of pastes (benchmarks/pii_scan.py's filler). Each request is timed alone (CPU time of
the best of ``--repeat`` runs, so a busy machine's waits do not count), after a warm-up.

Context windows: the window decision triage adds per routed request, on its own mix
(chats, long conversations, 100 KB documents and 900 KB prompts), with the cost of the
exact count it avoids and the error of its sampled count: see benchmarks/context_policy.py.
``--only pii`` or ``--only context`` runs one section.

    PYTHONPATH=. .venv/bin/python benchmarks/request_policies.py [--seed N] [--repeat N]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from benchmarks.context_policy import context_section
from benchmarks.pii_scan import filler
from policy.pii_policy import PiiPolicy, RequestRedactor, blocked, combine, count_found
from schemas.chat import ChatMessage, ToolCall
from schemas.events import LLMRequest
from schemas.pii import PiiConfig, PiiKind, PiiMode

STREAM_CHUNK_CHARS = 16


def _chat(rnd: random.Random, turns: int) -> list[ChatMessage]:
    system = ChatMessage(role="system", content=filler(rnd, 300, pii_every=10_000))
    messages = [system]
    for i in range(turns):
        role = "user" if i % 2 == 0 else "assistant"
        text = filler(rnd, rnd.randint(200, 1500), pii_every=800)
        messages.append(ChatMessage(role=role, content=text))
    if messages[-1].role != "user":
        messages.append(ChatMessage(role="user", content=filler(rnd, 400, pii_every=800)))
    return messages


def _tool_use(rnd: random.Random) -> list[ChatMessage]:
    messages = _chat(rnd, rnd.randint(1, 3))
    arguments = {
        "query": filler(rnd, 200, pii_every=100),
        "filters": {"owner": filler(rnd, 60, pii_every=30), "limit": 20},
    }
    call = ToolCall(id="call_1", name="search", arguments=arguments)
    result = filler(rnd, rnd.randint(1000, 4000), pii_every=800)
    return [
        *messages,
        ChatMessage(role="assistant", tool_calls=[call]),
        ChatMessage(role="tool", tool_call_id="call_1", content=result),
        ChatMessage(role="user", content="Summarise what you found."),
    ]


def _mix(rnd: random.Random, n: int) -> list[tuple[str, LLMRequest]]:
    made: list[tuple[str, LLMRequest]] = []
    for i in range(n):
        roll = rnd.random()
        if roll < 0.70:
            label, messages = "chat", _chat(rnd, rnd.randint(1, 6))
        elif roll < 0.90:
            label, messages = "tool use", _tool_use(rnd)
        elif roll < 0.98:
            paste = filler(rnd, rnd.randint(10_000, 40_000))
            label, messages = "paste 10-40 KB", [ChatMessage(role="user", content=paste)]
        else:
            document = filler(rnd, 100_000)
            label, messages = "document 100 KB", [ChatMessage(role="user", content=document)]
        request = LLMRequest(request_id=f"r-{i}", tenant="acme", messages=messages)
        made.append((label, request))
    return made


def _answer(sent: LLMRequest) -> str:
    """What the emulator would answer: the last message as it was sent, echoed."""
    return sent.messages[-1].text[:2000]


def _block(policy: PiiPolicy) -> Callable[[LLMRequest], object]:
    def run(request: LLMRequest) -> object:
        return blocked(count_found(request, policy), policy)

    return run


def _dispatch(policy: PiiPolicy) -> Callable[[LLMRequest], object]:
    def run(request: LLMRequest) -> object:
        redactor = RequestRedactor(policy)
        counts: dict[str, int] = {}
        sent = redactor.request(request, counts)
        if not len(redactor.placeholders):
            return sent
        answer = _answer(sent)
        restorer = redactor.placeholders.restorer
        whole = restorer.restore(answer)
        stream = restorer.stream()
        step = STREAM_CHUNK_CHARS
        pieces = [stream.feed(answer[i : i + step]) for i in range(0, len(answer), step)]
        return whole, pieces, stream.flush(), redactor.record(counts)

    return run


def _cpu_s(run: Callable[[LLMRequest], object], request: LLMRequest, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run(request)
        best = min(best, time.process_time() - start)
    return best


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def pii_section(seed: int, n: int, repeat: int) -> None:
    every = frozenset(PiiKind)
    placeholder = combine((PiiConfig(mode=PiiMode.PLACEHOLDER),))
    masking = combine((PiiConfig(mode=PiiMode.MASK),))
    bank = combine(
        (
            PiiConfig(mode=PiiMode.PLACEHOLDER, kinds=every),
            PiiConfig(mode=PiiMode.BLOCK, kinds=frozenset({PiiKind.PAYMENT_CARD})),
        )
    )
    scan_bank, dispatch_bank = _block(bank), _dispatch(bank)

    def both(request: LLMRequest) -> object:
        return scan_bank(request), dispatch_bank(request)

    policies: dict[str, Callable[[LLMRequest], object]] = {
        "triage block": _block(bank),
        "dispatch placeholder": _dispatch(placeholder),
        "dispatch mask": _dispatch(masking),
        "block + placeholder": both,
    }
    mix = _mix(random.Random(seed), n)
    warm = LLMRequest(
        request_id="warm",
        tenant="acme",
        messages=[ChatMessage(role="user", content="call +44 20 7946 0958, jane@example.com")],
    )
    for run in policies.values():
        run(warm)
    labels = sorted({label for label, _ in mix}, key=[label for label, _ in mix].index)
    print(f"PII redaction: {n} requests (seed {seed}), CPU ms per request, best of {repeat}")
    print(f"{'policy':<22} {'class':<16} {'n':>4} {'p50':>8} {'p99':>8} {'max':>8}")
    for name, run in policies.items():
        times: dict[str, list[float]] = {label: [] for label in labels}
        for label, request in mix:
            times[label].append(_cpu_s(run, request, repeat))
        times["whole mix"] = [t for label in labels for t in times[label]]
        for label, values in times.items():
            print(
                f"{name:<22} {label:<16} {len(values):>4} {_pct(values, 0.5) * 1e3:>8.3f}"
                f" {_pct(values, 0.99) * 1e3:>8.3f} {max(values) * 1e3:>8.3f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per request; the best counts")
    parser.add_argument("--only", choices=["pii", "context"], help="run one section")
    args = parser.parse_args()
    if args.only != "context":
        pii_section(args.seed, args.requests, args.repeat)
    if args.only != "pii":
        context_section(args.seed, args.requests, args.repeat)


if __name__ == "__main__":
    main()
