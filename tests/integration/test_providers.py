"""Every provider the gateway knows answers through the pipeline, via the emulator."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from devtools.stack import (
    Emulator,
    Worker,
    collect,
    derive_config,
    publish,
    request_event,
    wait_committed,
)
from store import UsageStore, open_backend

pytestmark = pytest.mark.integration

# name -> (provider entry, upstream model name). Self-hosted servers get a key because the
# emulator's OpenAI dialect insists on one (vLLM's --api-key does the same).
PROVIDERS: dict[str, tuple[dict[str, Any], str]] = {
    "openai": (
        {"format": "openai", "preset": "openai", "api_key_env": "OPENAI_API_KEY"},
        "gpt-4o-mini",
    ),
    "azure": (
        {
            "format": "openai",
            "preset": "azure",
            "api_version": "2024-10-21",
            "api_key_env": "AZURE_OPENAI_API_KEY",
        },
        "my-gpt4o-deployment",
    ),
    "openrouter": (
        {
            "format": "openai",
            "preset": "openrouter",
            "api_key_env": "OPENROUTER_API_KEY",
            "headers": {"X-Title": "routeyard"},
        },
        "meta-llama/llama-3.1-8b-instruct",
    ),
    "deepseek": (
        {"format": "openai", "preset": "deepseek", "api_key_env": "DEEPSEEK_API_KEY"},
        "deepseek-chat",
    ),
    "xai": ({"format": "openai", "preset": "xai", "api_key_env": "XAI_API_KEY"}, "grok-3-mini"),
    "perplexity": (
        {"format": "openai", "preset": "perplexity", "api_key_env": "PERPLEXITY_API_KEY"},
        "sonar",
    ),
    "mistral": (
        {"format": "openai", "preset": "mistral", "api_key_env": "MISTRAL_API_KEY"},
        "mistral-small-latest",
    ),
    "together": (
        {"format": "openai", "preset": "together", "api_key_env": "TOGETHER_API_KEY"},
        "Qwen/Qwen2.5-7B-Instruct-Turbo",
    ),
    "groq": (
        {"format": "openai", "preset": "groq", "api_key_env": "GROQ_API_KEY"},
        "llama-3.1-8b-instant",
    ),
    "vllm": (
        {
            "format": "openai",
            "preset": "vllm",
            "base_url": "http://127.0.0.1:1",
            "api_key_env": "SELF_HOSTED_KEY",
        },
        "Qwen/Qwen2.5-1.5B-Instruct",
    ),
    "lmstudio": (
        {
            "format": "openai",
            "preset": "lmstudio",
            "base_url": "http://127.0.0.1:1",
            "api_key_env": "SELF_HOSTED_KEY",
        },
        "qwen2.5-7b-instruct",
    ),
    "ollama-openai": (
        {"format": "openai", "preset": "ollama", "api_key_env": "SELF_HOSTED_KEY"},
        "llama3.2",
    ),
    "tgi": (
        {
            "format": "openai",
            "preset": "tgi",
            "base_url": "http://127.0.0.1:1",
            "api_key_env": "SELF_HOSTED_KEY",
        },
        "tgi",
    ),
    "anthropic": (
        {"format": "anthropic", "api_key_env": "ANTHROPIC_API_KEY"},
        "claude-3-5-haiku-latest",
    ),
    "gemini": ({"format": "gemini", "api_key_env": "GEMINI_API_KEY"}, "gemini-2.0-flash"),
    "cohere": ({"format": "cohere", "api_key_env": "COHERE_API_KEY"}, "command-r-08-2024"),
    "bedrock": (
        {"format": "bedrock", "region": "us-east-1"},
        "anthropic.claude-3-5-haiku-20241022-v1:0",
    ),
    "ollama": ({"format": "ollama"}, "llama3.2"),
}


NO_TOOLS = {"perplexity"}  # its API takes no tools: refused before the call
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def _tool_request(name: str) -> tuple[str | None, bytes]:
    rid = f"tool-{name}"
    event = request_event(
        rid, "Call get_weather for Lisbon, please.", route=f"via-{name}", tools=[WEATHER_TOOL]
    )
    return rid, orjson.dumps(event)


def _base_config(tmp: Path) -> Path:
    data = {
        "topics": {
            "requests": "llm.requests",
            "dispatch": "llm.dispatch",
            "responses": "llm.responses",
            "retry": "llm.retry",
            "dlq": "llm.dlq",
            "usage": "llm.usage",
            "partitions": 2,
        },
        "providers": {name: entry for name, (entry, _) in PROVIDERS.items()},
        "models": {
            f"{name}-model": {
                "provider": name,
                "upstream": upstream,
                "input_per_mtok": "1.00",
                "output_per_mtok": "2.00",
                "context_window": 128000,
            }
            for name, (_, upstream) in PROVIDERS.items()
        },
        "routes": [{"name": f"via-{name}", "primary": f"{name}-model"} for name in PROVIDERS],
        "usage_sink": {"batch_size": 100, "flush_interval_s": 0.2},
        "store": {"database": "routeyard", "path": "unused"},
    }
    path = tmp / "providers.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


async def test_every_provider_answers_through_the_pipeline(
    kafka_bootstrap: str, test_name: str, tmp_path: Path
) -> None:
    emulator = Emulator(tmp_path, {"default": {"latency": {"dist": "fixed", "ms": 5}}})
    config = derive_config(_base_config(tmp_path), tmp_path, emulator.url, test_name)
    topics: dict[str, str] = yaml.safe_load(config.read_text())["topics"]
    worker = Worker(tmp_path, config, kafka_bootstrap)
    try:
        events: list[tuple[str | None, bytes]] = [
            (
                f"via-{name}",
                orjson.dumps(
                    request_event(
                        f"via-{name}",
                        "What is the tallest mountain in Portugal?",
                        route=f"via-{name}",
                        messages=[
                            {"role": "system", "content": "Answer in one sentence."},
                            {
                                "role": "user",
                                "content": "What is the tallest mountain in Portugal?",
                            },
                        ],
                    )
                ),
            )
            for name in PROVIDERS
        ]
        events += [_tool_request(name) for name in PROVIDERS]
        await publish(kafka_bootstrap, topics["requests"], events)

        def all_ended(got: dict[str, list[dict[str, Any]]]) -> bool:
            ended = {e["request_id"] for e in got[topics["responses"]] + got[topics["dlq"]]}
            return len(ended) >= 2 * len(PROVIDERS)

        got = await collect(
            kafka_bootstrap, [topics["responses"], topics["dlq"]], all_ended, deadline_s=60
        )
        await wait_committed(
            kafka_bootstrap, f"routeyard-{test_name}", topics["usage"], 2, deadline_s=30
        )
    finally:
        assert worker.stop() == 0, worker.process.log_text()[-3000:]
        emulator.stop()

    letters = {d["request_id"]: d for d in got[topics["dlq"]]}
    assert set(letters) == {f"tool-{name}" for name in NO_TOOLS}, letters
    for letter in letters.values():
        # Capability fit at triage: no call is made to a provider that cannot take tools.
        assert (letter["reason"], letter["stage"]) == ("no_capable_model", "triage"), letter
        assert "tools" in letter["detail"]
        assert letter["last_error"] is None
    by_id = {r["request_id"]: r for r in got[topics["responses"]]}
    assert set(by_id) == {f"via-{name}" for name in PROVIDERS} | {
        f"tool-{name}" for name in set(PROVIDERS) - NO_TOOLS
    }
    for name in PROVIDERS:
        response = by_id[f"via-{name}"]
        assert response["provider"] == name
        assert response["content"], name
        assert response["finish_reason"] == "stop", name
        assert response["usage"]["input_tokens"] > 0 and response["usage"]["output_tokens"] > 0
        assert Decimal(response["cost_usd"]) > 0, name
    for name in set(PROVIDERS) - NO_TOOLS:
        response = by_id[f"tool-{name}"]
        assert response["finish_reason"] == "tool_calls", name
        [call] = response["tool_calls"]
        assert call["name"] == "get_weather" and isinstance(call["arguments"]["city"], str), name
        assert call["id"], name

    store = UsageStore(open_backend(tmp_path / "chdb"), "routeyard")
    try:
        rows = store.query(
            "SELECT provider, count() AS n, sum(cost_usd) AS usd FROM routeyard.usage_dedup"
            " WHERE outcome = 'success' GROUP BY provider"
        )
    finally:
        store.backend.close()
    expected = {name: 1 if name in NO_TOOLS else 2 for name in PROVIDERS}
    assert {r["provider"]: int(r["n"]) for r in rows} == expected
    assert all(Decimal(r["usd"]) > 0 for r in rows)
