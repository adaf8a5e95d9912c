"""What the context-window policy adds to triage per request, and how close its bounded
count comes to the exact one (issue 14; docs/design/request_policies.md).

Method. :func:`policy.context_fit.decide` is the step triage runs for a routed request
beyond what it ran before (the old window check was a byte count, a few microseconds), so
its time is the latency the policy adds. It is timed per request on the example config's
routes, as the stage calls it: ``default`` (gpt-4o-mini and claude-haiku: one base
encoding, o200k) and ``budget`` (deepseek-chat, mistral-small and a Llama 3 model: o200k
and cl100k), each with the default policy (move, else reject) and with ``move`` then
``fit``. CPU time, best of ``--repeat`` runs, after the encodings are built (a worker
builds them at start-up).

The mix: 70 % chats (a system prompt and 1-8 turns of 50-1500 characters of the token
corpus), 25 % long conversations (20-80 messages of 200-3000 characters), 4 % documents
of 100 KB, 1 % prompts of 900 KB (benchmarks/token_corpus.py's mixed text: code, JSON,
numbers, identifiers, CJK and other scripts, prose). For the 900 KB prompts the exact
count is timed too (what triage would pay without the sample), and the sample's error is
measured on ``--error-prompts`` such prompts, per tokenizer family.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from functools import partial

from benchmarks.token_corpus import corpus, long_prompt
from policy.context_count import EXTRAPOLATION_MARGIN, count_request
from policy.context_fit import decide
from policy.encodings import PATTERNS, encoding
from policy.tokens import Family, estimate_for_families
from schemas.chat import ChatMessage
from schemas.config import GatewayConfig
from schemas.config_loader import parse_config
from schemas.context import ContextPolicy
from schemas.events import LLMRequest
from tests.paths import EXAMPLE_CONFIG

ROUTES = {
    "default": ["gpt-4o-mini", "claude-haiku"],
    "budget": ["deepseek-chat", "mistral-small", "llama-3.1-8b-groq"],
}
POLICIES = {"move": ContextPolicy(), "move+fit": ContextPolicy(when_none_fit="fit")}


def _messages(
    rnd: random.Random, texts: list[str], count: int, lo: int, hi: int
) -> list[ChatMessage]:
    messages = [ChatMessage(role="system", content="You are a careful assistant.")]
    for i in range(count):
        text = rnd.choice(texts)
        start = rnd.randrange(max(1, len(text) - lo))
        piece = text[start : start + rnd.randint(lo, hi)] or "ok"
        messages.append(ChatMessage(role="user" if i % 2 == 0 else "assistant", content=piece))
    if messages[-1].role != "user":
        messages.append(ChatMessage(role="user", content="And so?"))
    return messages


def mix(seed: int, n: int) -> list[tuple[str, LLMRequest]]:
    rnd = random.Random(seed)
    texts = [s.text for s in corpus()]
    made: list[tuple[str, LLMRequest]] = []
    for i in range(n):
        roll = rnd.random()
        if roll < 0.70:
            label, messages = "chat", _messages(rnd, texts, rnd.randint(1, 8), 50, 1500)
        elif roll < 0.95:
            label, messages = "conversation", _messages(rnd, texts, rnd.randint(20, 80), 200, 3000)
        elif roll < 0.99:
            document = long_prompt(100_000, seed=rnd.randrange(1 << 20))
            label, messages = "document 100 KB", [ChatMessage(role="user", content=document)]
        else:
            prompt = long_prompt(900_000, seed=rnd.randrange(1 << 20))
            label, messages = "prompt 900 KB", [ChatMessage(role="user", content=prompt)]
        params = {"max_tokens": rnd.choice([256, 1024, 4096])}
        made.append(
            (
                label,
                LLMRequest(request_id=f"r-{i}", tenant="acme", messages=messages, params=params),
            )
        )
    return made


def _cpu_s(run: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency(config: GatewayConfig, requests: list[tuple[str, LLMRequest]], repeat: int) -> None:
    labels = list(dict.fromkeys(label for label, _ in requests))
    head = f"{'route':<8} {'policy':<9} {'class':<16} {'n':>4}"
    print(f"{head} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for route, chain in ROUTES.items():
        for name, policy in POLICIES.items():
            times: dict[str, list[float]] = {label: [] for label in labels}
            for label, request in requests:
                run = partial(decide, request, chain, policy, config)
                times[label].append(_cpu_s(run, repeat))
            times["whole mix"] = [t for label in labels for t in times[label]]
            for label, values in times.items():
                print(
                    f"{route:<8} {name:<9} {label:<16} {len(values):>4}"
                    f" {_pct(values, 0.5) * 1e3:>8.3f} {_pct(values, 0.99) * 1e3:>8.3f}"
                    f" {max(values) * 1e3:>8.3f}"
                )


def exact_cost(requests: list[tuple[str, LLMRequest]], repeat: int) -> None:
    families = [Family.OPENAI, Family.ANTHROPIC, Family.LLAMA]
    big = [r for label, r in requests if label == "prompt 900 KB"][:3]
    for request in big:
        exact = _cpu_s(partial(estimate_for_families, request, families), repeat)
        bounded = _cpu_s(partial(count_request, request, families), repeat)
        print(
            f"900 KB prompt, o200k + cl100k: exact count {exact * 1e3:.0f} ms,"
            f" bounded {bounded * 1e3:.1f} ms"
        )


def extrapolation_error(prompts: int) -> None:
    families = [Family.OPENAI, Family.ANTHROPIC, Family.ANTHROPIC_47, Family.MISTRAL, Family.LLAMA]
    errors: dict[Family, list[float]] = {f: [] for f in families}
    for seed in range(prompts):
        request = LLMRequest(
            request_id="e",
            tenant="acme",
            messages=[ChatMessage(role="user", content=long_prompt(900_000, seed=seed))],
        )
        exact = estimate_for_families(request, families)
        counts = count_request(request, families)
        for family in families:
            errors[family].append((counts.total(family) - exact[family]) / exact[family])
    padding = f"sampled part padded +{EXTRAPOLATION_MARGIN:.0%}"
    print(f"\nextrapolated vs exact count, {prompts} prompts of 900 KB ({padding}):")
    print(f"{'family':<16} {'mean |err|':>10} {'worst under':>12} {'worst over':>11}")
    for family, values in errors.items():
        mean = statistics.mean(abs(v) for v in values)
        print(f"{family.value:<16} {mean:>10.1%} {min(values):>12.1%} {max(values):>11.1%}")


def context_section(seed: int, n: int, repeat: int, error_prompts: int = 12) -> None:
    config = parse_config(EXAMPLE_CONFIG.read_text(), env={})
    started = time.perf_counter()
    for name in PATTERNS:
        encoding(name)
    built = time.perf_counter() - started
    print(f"\ncontext windows: encodings built in {built:.2f} s (once per worker, lazily)")
    requests = mix(seed, n)
    print(f"decide() per request, {n} requests (seed {seed}), CPU ms, best of {repeat}")
    latency(config, requests, repeat)
    exact_cost(requests, repeat)
    extrapolation_error(error_prompts)
