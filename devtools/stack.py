"""A local stack for the demo and the integration tests: the emulator and workers as
separate processes (the way users run them), driven over Kafka with plain aiokafka
clients. Every process is started in its own session and stopped by its pid."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

import httpx
import orjson
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas.config import TopicsConfig

ROUTEYARD = [sys.executable, "-m", "routeyard.cli"]
# Gateway API keys of the configs derive_config writes (tenant -> key): test values only.
TEST_KEYS = {"acme": "sk-test-acme-0001", "globex": "sk-test-globex-0002"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], deadline_s: float, what: str) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(f"gave up after {deadline_s}s waiting for {what}")


class Process:
    """A child process in its own session, logged to a file, stopped by its pid."""

    live: ClassVar[set[Process]] = set()

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            start_new_session=True,
        )
        Process.live.add(self)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 30) -> int:
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        Process.live.discard(self)
        return self.proc.returncode


def stop_all(keep: frozenset[Process] = frozenset()) -> None:
    """Stop every process this module started that is still running (a safety net),
    except those in ``keep`` (a module's shared stack, started before the test)."""
    for process in list(Process.live - keep):
        process.stop(timeout_s=10)


class Emulator:
    def __init__(self, tmp: Path, profile: dict[str, Any]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        path = tmp / "emulator.yaml"
        path.write_text(yaml.safe_dump(profile))
        argv = [*ROUTEYARD, "emulate", "--config", str(path), "--port", str(self.port)]
        self.process = Process("emulator", argv, tmp / "emulator.log", {})
        wait_until(self._healthy, 30, f"emulator on {self.url}")

    def _healthy(self) -> bool:
        if not self.process.alive():
            raise RuntimeError(f"emulator exited:\n{self.process.log_text()[-3000:]}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = httpx.get(f"{self.url}/_emulator/stats", timeout=5).json()
        return data

    def outage(self, seconds: float) -> None:
        """Every call fails at the connection level for ``seconds`` (still counted)."""
        reply = httpx.post(f"{self.url}/_emulator/outage", json={"seconds": seconds}, timeout=5)
        reply.raise_for_status()

    def fault(self, model: str, status: int, seconds: float) -> None:
        """Every call to upstream ``model`` answers HTTP ``status`` for ``seconds``."""
        body = {"model": model, "status": status, "seconds": seconds}
        httpx.post(f"{self.url}/_emulator/fault", json=body, timeout=5).raise_for_status()

    def latency(self, model: str, ms: float, seconds: float) -> None:
        """Every call to upstream ``model`` takes ``ms`` (in place of its profile's) for
        ``seconds``."""
        body = {"model": model, "ms": ms, "seconds": seconds}
        httpx.post(f"{self.url}/_emulator/latency", json=body, timeout=5).raise_for_status()

    def cut(self, model: str, after_frames: int, seconds: float) -> None:
        """Streamed replies of upstream ``model`` break after ``after_frames`` frames."""
        body = {"model": model, "after_frames": after_frames, "seconds": seconds}
        httpx.post(f"{self.url}/_emulator/cut", json=body, timeout=5).raise_for_status()

    def end_outage(self) -> None:
        httpx.delete(f"{self.url}/_emulator/outage", timeout=5).raise_for_status()

    def stop(self) -> None:
        self.process.stop()


# OpenAI-compatible dialects whose real APIs (and the emulator) have no /v1 in the path.
_PRESETS_AT_ROOT = {"azure", "perplexity"}


def emulator_base_url(provider: dict[str, Any], emulator_url: str) -> str:
    """The base_url that makes a provider entry talk to the emulator instead."""
    if provider["format"] == "openai":
        root = provider.get("preset") in _PRESETS_AT_ROOT
        return emulator_url if root else f"{emulator_url}/v1"
    return emulator_url


def fake_credentials(config: Path) -> dict[str, str]:
    """Environment giving every provider in ``config`` a key the emulator accepts."""
    env: dict[str, str] = {}
    for provider in yaml.safe_load(config.read_text())["providers"].values():
        if provider["format"] == "bedrock":
            env[provider.get("aws_access_key_env", "AWS_ACCESS_KEY_ID")] = "AKIDEMULATOR"
            env[provider.get("aws_secret_key_env", "AWS_SECRET_ACCESS_KEY")] = "emulator-secret"
        elif provider.get("api_key_env"):
            env[provider["api_key_env"]] = f"test-{provider['api_key_env'].lower()}"
    return env


def derive_config(base: Path, tmp: Path, emulator_url: str, name: str, **overrides: Any) -> Path:
    """``base`` pointed at this emulator, with its own topics, consumer group and store."""
    data = yaml.safe_load(base.read_text())
    data["app_id"] = f"routeyard-{name}"
    # Topics the base leaves at their defaults (llm.chunks) get the prefix too.
    topics = {**TopicsConfig().model_dump(), **data["topics"]}
    data["topics"] = {
        key: f"{name}.{value}" if key != "partitions" else value for key, value in topics.items()
    }
    for provider in data["providers"].values():
        provider["base_url"] = emulator_base_url(provider, emulator_url)
    data["store"]["path"] = str(tmp / "chdb")
    data["usage_sink"]["flush_interval_s"] = 0.2
    # Each test's analytics process and front door serve their own ports: several run at once.
    data["analytics"] = {"listen": f"127.0.0.1:{free_port()}"}
    data["serve"] = {
        "listen": f"127.0.0.1:{free_port()}",
        "api_keys": [
            {
                "name": f"{tenant}-test",
                "tenant": tenant,
                "sha256": hashlib.sha256(k.encode()).hexdigest(),
            }
            for tenant, k in TEST_KEYS.items()
        ],
    }
    for key, value in overrides.items():
        data[key] = value
    path = tmp / "routeyard.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class Worker:
    def __init__(
        self,
        tmp: Path,
        config: Path,
        bootstrap: str,
        tag: str = "worker",
        role: str | None = None,
    ) -> None:
        """``role`` is passed as ``--role`` (gateway, analytics, all); None passes no flag."""
        argv = [*ROUTEYARD, "worker", "--config", str(config), "--bootstrap", bootstrap]
        if role is not None:
            argv += ["--role", role]
        self.role = role
        listen = yaml.safe_load(config.read_text()).get("analytics", {}).get("listen")
        # The query API and dashboard of a worker that runs the usage sink.
        self.analytics_url = f"http://{listen}" if listen else None
        self.process = Process(tag, argv, tmp / f"{tag}.log", fake_credentials(config))
        wait_until(self._ready, 90, f"{tag} to join its group")

    def _ready(self) -> bool:
        if not self.process.alive():
            raise RuntimeError(f"worker exited:\n{self.process.log_text()[-3000:]}")
        return "Worker ready" in self.process.log_text()

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        return self.process.stop(sig)


class FrontDoor:
    """``routeyard serve`` on the config's ``serve.listen``; ``url`` ends in ``/v1``."""

    def __init__(self, tmp: Path, config: Path, bootstrap: str, tag: str = "serve") -> None:
        listen = yaml.safe_load(config.read_text())["serve"]["listen"]
        self.base_url = f"http://{listen}"
        self.url = f"{self.base_url}/v1"
        argv = [*ROUTEYARD, "serve", "--config", str(config), "--bootstrap", bootstrap]
        self.process = Process(tag, argv, tmp / f"{tag}.log", fake_credentials(config))
        wait_until(self._ready, 60, f"{tag} to listen")

    def _ready(self) -> bool:
        if not self.process.alive():
            raise RuntimeError(f"serve exited:\n{self.process.log_text()[-3000:]}")
        return "routeyard serve listening" in self.process.log_text()

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        return self.process.stop(sig)


def request_event(request_id: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "tenant": extra.pop("tenant", "acme"),
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


async def publish(bootstrap: str, topic: str, items: Iterable[tuple[str | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        batch = [
            await producer.send(topic, value, key=key.encode() if key else None)
            for key, value in items
        ]
        await asyncio.gather(*batch)
    finally:
        await producer.stop()


async def collect(
    bootstrap: str,
    topics: list[str],
    done: Callable[[dict[str, list[dict[str, Any]]]], bool],
    deadline_s: float,
) -> dict[str, list[dict[str, Any]]]:
    """Read the topics from the beginning until ``done`` holds or the deadline passes."""
    got: dict[str, list[dict[str, Any]]] = {t: [] for t in topics}
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        end = time.monotonic() + deadline_s
        while not done(got):
            left = end - time.monotonic()
            if left <= 0:
                counts = {t: len(v) for t, v in got.items()}
                raise TimeoutError(f"after {deadline_s}s only got {counts}")
            batches = await consumer.getmany(timeout_ms=int(min(left, 0.5) * 1000))
            for tp, messages in batches.items():
                got[tp.topic].extend(orjson.loads(m.value) for m in messages)
    finally:
        await consumer.stop()
    return got


async def wait_committed(
    bootstrap: str, group: str, topic: str, partitions: int, deadline_s: float
) -> None:
    """Until the group's committed offsets reach the end of every partition of ``topic``.

    The usage sink commits only after its insert succeeded, so this is the moment every
    usage event so far is in the store.
    """
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await probe.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        end = time.monotonic() + deadline_s
        while True:
            ends = await probe.end_offsets(tps)
            committed = await admin.list_consumer_group_offsets(group, partitions=tps)
            # A partition the group never committed on reads as offset -1 (or is absent).
            done = {tp: max(0, committed[tp].offset) if tp in committed else 0 for tp in tps}
            behind = {tp.partition: ends[tp] - done[tp] for tp in tps if ends[tp] > done[tp]}
            if not behind:
                return
            if time.monotonic() > end:
                raise TimeoutError(f"group {group} still behind on {topic}: {behind}")
            await asyncio.sleep(0.1)
    finally:
        await probe.stop()
        await admin.close()
