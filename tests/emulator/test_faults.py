import asyncio
import random
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from emulator.base import Wire
from emulator.generate import estimate_tokens, generate_reply
from emulator.profile import (
    EmulatorConfig,
    FaultProfile,
    FixedLatency,
    LognormalLatency,
    UniformLatency,
    load_emulator_config,
)
from emulator.registry import WIRES
from emulator.server import RunningEmulator
from tests.emulated import StartEmulator

AUTH = {"authorization": "Bearer test-key"}


def body(model: str = "m", text: str = "hello world", **extra: object) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


async def post(
    http: httpx.AsyncClient, emulator: RunningEmulator, payload: dict[str, Any], **kw: Any
) -> httpx.Response:
    return await http.post(
        f"{emulator.base_url}/v1/chat/completions", json=payload, headers=AUTH, **kw
    )


async def stats(http: httpx.AsyncClient, emulator: RunningEmulator) -> dict[str, Any]:
    data: dict[str, Any] = (await http.get(f"{emulator.base_url}/_emulator/stats")).json()
    return data


# Profile validation and loading


@pytest.mark.parametrize(
    "profile",
    [
        {"error_rates": {500: 0.6}, "hang_rate": 0.5},
        {"error_rates": {418: 0.1}},
        {"error_rates": {500: 1.5}},
        {"latency": {"dist": "uniform", "min_ms": 10, "max_ms": 5}},
        {"latency": {"dist": "gaussian", "ms": 5}},
        {"hang_s": 1000},
        {"retry_after": 3},
    ],
)
def test_invalid_profiles_are_rejected(profile: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        FaultProfile.model_validate(profile)


def test_yaml_config_with_per_model_overrides(tmp_path: Path) -> None:
    path = tmp_path / "emulator.yaml"
    path.write_text(
        """
seed: 42
default:
  latency: {dist: lognormal, median_ms: 40, sigma: 0.3}
  error_rates: {429: 0.1, 500: 0.05}
  retry_after_s: 2
models:
  flaky:
    latency: {dist: uniform, min_ms: 1, max_ms: 2}
    error_rates: {529: 0.5}
    hang_rate: 0.1
    context_window: 4096
"""
    )
    config = load_emulator_config(path)
    assert config.seed == 42
    assert config.default.error_rates == {429: 0.1, 500: 0.05}
    assert isinstance(config.default.latency, LognormalLatency)
    flaky = config.profile_for("flaky")
    assert isinstance(flaky.latency, UniformLatency)
    assert (flaky.error_rates, flaky.hang_rate, flaky.context_window) == ({529: 0.5}, 0.1, 4096)
    assert config.profile_for("anything-else") is config.default


def test_empty_yaml_means_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_emulator_config(path) == EmulatorConfig()


# Sampling


def test_fault_shares_match_rates() -> None:
    profile = FaultProfile(error_rates={429: 0.2, 500: 0.1}, hang_rate=0.05, malformed_rate=0.05)
    rng = random.Random(1)
    picks = Counter((p.fault, p.status) for p in (profile.pick_fault(rng) for _ in range(20_000)))
    shares = {key: count / 20_000 for key, count in picks.items()}
    assert shares[("error", 429)] == pytest.approx(0.2, abs=0.015)
    assert shares[("error", 500)] == pytest.approx(0.1, abs=0.015)
    assert shares[("hang", None)] == pytest.approx(0.05, abs=0.01)
    assert shares[("malformed", None)] == pytest.approx(0.05, abs=0.01)
    assert shares[("ok", None)] == pytest.approx(0.6, abs=0.02)
    assert ("content_filter", None) not in shares


def test_same_seed_same_faults() -> None:
    profile = FaultProfile(error_rates={503: 0.3}, hang_rate=0.2)
    rng_a, rng_b = random.Random(5), random.Random(5)
    first = [profile.pick_fault(rng_a) for _ in range(200)]
    assert first == [profile.pick_fault(rng_b) for _ in range(200)]
    assert {p.fault for p in first} == {"ok", "error", "hang"}
    other = random.Random(6)
    assert first != [profile.pick_fault(other) for _ in range(200)]


def test_latency_samplers() -> None:
    rng = random.Random(3)
    assert FixedLatency(ms=25).sample_ms(rng) == 25
    uniform = [
        UniformLatency(dist="uniform", min_ms=10, max_ms=20).sample_ms(rng) for _ in range(500)
    ]
    assert min(uniform) >= 10
    assert max(uniform) <= 20
    lognormal = LognormalLatency(dist="lognormal", median_ms=50, sigma=0.5, max_ms=120)
    samples = [lognormal.sample_ms(rng) for _ in range(5000)]
    assert statistics.median(samples) == pytest.approx(50, rel=0.08)
    assert max(samples) == 120  # the tail is capped


# Deterministic answers


def test_replies_are_deterministic_and_sized() -> None:
    first = generate_reply("the quick brown fox", max_tokens=None, stop=[])
    assert first == generate_reply("the quick brown fox", max_tokens=None, stop=[])
    assert first.stop == "end_turn"
    assert estimate_tokens(first.text) == first.output_tokens
    assert first.text.startswith("the quick brown fox")
    short = generate_reply("the quick brown fox", max_tokens=2, stop=[])
    assert (short.output_tokens, short.stop, estimate_tokens(short.text)) == (2, "max_tokens", 2)
    cut = generate_reply("the quick brown fox", max_tokens=None, stop=["brown"])
    assert (cut.text, cut.stop, cut.stop_sequence) == ("the quick ", "stop_sequence", "brown")


async def test_same_seed_same_responses(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    config = EmulatorConfig(seed=11, default=FaultProfile(error_rates={500: 0.5}))
    outcomes = []
    for _ in range(2):
        emulator = await start_emulator(config)
        replies = [await post(http, emulator, body(text=f"q{i}")) for i in range(20)]
        # Everything but the wall-clock ``created`` stamp must repeat.
        outcomes.append([(r.status_code, r.json() | {"created": None}) for r in replies])
    assert outcomes[0] == outcomes[1]
    assert {status for status, _ in outcomes[0]} == {200, 500}


# Faults over HTTP


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 529])
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
async def test_each_error_status_is_served(
    start_emulator: StartEmulator, http: httpx.AsyncClient, status: int, path: str
) -> None:
    emulator = await start_emulator(
        EmulatorConfig(default=FaultProfile(error_rates={status: 1.0}, retry_after_s=0.2))
    )
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01", **AUTH}
    payload = body(max_tokens=10)
    response = await http.post(f"{emulator.base_url}{path}", json=payload, headers=headers)
    assert response.status_code == status
    assert "error" in response.json()
    # Retry-After goes with 429s only, rounded up to whole seconds.
    assert response.headers.get("retry-after") == ("1" if status == 429 else None)


async def test_no_retry_after_header_when_unset(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator(
        EmulatorConfig(default=FaultProfile(error_rates={429: 1.0}, retry_after_s=None))
    )
    response = await post(http, emulator, body())
    assert response.status_code == 429
    assert "retry-after" not in response.headers


@pytest.mark.parametrize("wire", WIRES, ids=lambda wire: wire.name)
def test_error_headers_carry_a_retry_delay_only_when_given(wire: Wire) -> None:
    assert wire.error_headers(wire.status_error(429, retry_after_s=1.5))["retry-after"] == "2"
    assert "retry-after" not in wire.error_headers(wire.status_error(429))
    assert "retry-after" not in wire.error_headers(wire.status_error(503))


@pytest.mark.parametrize(
    ("path", "headers", "status", "outcome"),
    [
        ("/v1/chat/completions", {}, 401, "unauthorized"),
        # Google and AWS refuse a missing credential with 403.
        ("/v1beta/models/m:generateContent", {}, 403, "unauthorized"),
        ("/model/m/converse", {}, 403, "unauthorized"),
        # A missing anthropic-version is a bad request, not a credential problem.
        ("/v1/messages", {"x-api-key": "k"}, 400, "bad_request"),
    ],
)
async def test_header_check_failures_are_counted(
    start_emulator: StartEmulator,
    http: httpx.AsyncClient,
    path: str,
    headers: dict[str, str],
    status: int,
    outcome: str,
) -> None:
    emulator = await start_emulator()
    response = await http.post(f"{emulator.base_url}{path}", json=body(), headers=headers)
    assert response.status_code == status
    assert (await stats(http, emulator))["outcomes"] == {outcome: 1}


async def test_per_model_profiles_and_stats(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator(
        EmulatorConfig(
            models={
                "flaky": FaultProfile(error_rates={503: 1.0}),
                "tiny": FaultProfile(context_window=4),
            }
        )
    )
    assert (await post(http, emulator, body("steady"))).status_code == 200
    assert (await post(http, emulator, body("steady"))).status_code == 200
    assert (await post(http, emulator, body("flaky"))).status_code == 503
    assert (await post(http, emulator, body("tiny", "a long prompt " * 5))).status_code == 400
    unauthenticated = await http.post(
        f"{emulator.base_url}/v1/chat/completions", json=body("steady")
    )
    assert unauthenticated.status_code == 401

    snapshot = await stats(http, emulator)
    assert snapshot["requests"] == 5
    assert snapshot["by_wire"] == {"openai": 5}
    assert snapshot["outcomes"] == {
        "ok": 2,
        "error_503": 1,
        "context_window": 1,
        "unauthorized": 1,
    }
    assert snapshot["models"]["steady"] == {
        "requests": 3,
        "outcomes": {"ok": 2, "unauthorized": 1},
    }
    assert snapshot["models"]["flaky"]["outcomes"] == {"error_503": 1}

    reset = await http.delete(f"{emulator.base_url}/_emulator/stats")
    assert reset.status_code == 200
    assert (await stats(http, emulator))["requests"] == 0


async def test_fixed_latency_delays_the_answer(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator(
        EmulatorConfig(default=FaultProfile(latency=FixedLatency(ms=200)))
    )
    started = time.monotonic()
    response = await post(http, emulator, body())
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2


async def test_malformed_reply_is_not_json(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator(EmulatorConfig(default=FaultProfile(malformed_rate=1.0)))
    response = await post(http, emulator, body())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    with pytest.raises(ValueError):
        response.json()


async def test_hang_outlives_client_timeout_and_is_counted(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator(EmulatorConfig(default=FaultProfile(hang_rate=1.0)))
    with pytest.raises(httpx.ReadTimeout):
        await post(http, emulator, body(), timeout=0.3)
    assert (await stats(http, emulator))["outcomes"] == {"hang": 1}


async def test_shutdown_releases_hung_requests(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator(EmulatorConfig(default=FaultProfile(hang_rate=1.0)))
    pending = asyncio.create_task(post(http, emulator, body(), timeout=60))
    while (await stats(http, emulator))["requests"] == 0:
        await asyncio.sleep(0.01)  # polling for arrival, not waiting for luck
    started = time.monotonic()
    await emulator.stop()
    assert time.monotonic() - started < 3.0
    response = await pending
    assert response.status_code == 504


async def test_healthz(start_emulator: StartEmulator, http: httpx.AsyncClient) -> None:
    emulator = await start_emulator()
    response = await http.get(f"{emulator.base_url}/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_large_prompts_reach_the_context_window_check(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    # 2 MB is past aiohttp's default body limit but well inside Anthropic's 32 MB.
    emulator = await start_emulator()
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    payload = body(text="x" * 2_000_000, max_tokens=10)
    response = await http.post(f"{emulator.base_url}/v1/messages", json=payload, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("prompt is too long")


async def test_oversized_body_gets_request_too_large(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator()
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    payload = body(text="x" * (33 * 1024 * 1024), max_tokens=10)
    response = await http.post(f"{emulator.base_url}/v1/messages", json=payload, headers=headers)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"
    assert (await stats(http, emulator))["outcomes"] == {"too_large": 1}
