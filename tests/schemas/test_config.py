from pathlib import Path
from typing import get_args

import pytest

from schemas.config import KAFKA_DEFAULT_MESSAGE_BYTES
from schemas.config_loader import ConfigError, load_config, parse_config
from schemas.providers import (
    OPENAI_PRESET_BASE_URLS,
    BedrockProvider,
    OpenAIPreset,
    OpenAIProvider,
    WireFormat,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "routeyard.example.yaml"

MINIMAL = """
providers:
  emu: {format: openai, base_url: "http://127.0.0.1:1/v1", api_key_env: EMU_KEY}
models:
  small: {provider: emu, upstream: s, input_per_mtok: "1", output_per_mtok: "2",
          context_window: 1000}
routes:
  - {name: default, primary: small}
"""


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE)
    assert config.topics.requests == "llm.requests"
    assert {r.name for r in config.routes} >= {"default"}


def test_minimal_config_gets_defaults() -> None:
    config = parse_config(MINIMAL)
    assert config.topics.dlq == "llm.dlq"
    retry = config.routes[0].retry
    # a retry budget in time, with an attempt cap a short outage does not use up
    assert (retry.deadline_s, retry.max_attempts) == (300.0, 30)


@pytest.mark.parametrize(
    ("retry", "expected"),
    [
        ("{deadline_s: 0}", "routes[0].retry.deadline_s"),
        ("{deadline_s: 7200}", "routes[0].retry.deadline_s"),
        ("{max_attempts: 101}", "routes[0].retry.max_attempts"),
        ("{deadline: 60}", "routes[0].retry.deadline: Extra inputs"),
    ],
)
def test_retry_policy_bounds_name_the_field(retry: str, expected: str) -> None:
    text = MINIMAL.replace("primary: small}", f"primary: small, retry: {retry}}}")
    with pytest.raises(ConfigError) as info:
        parse_config(text, "gw.yaml")
    assert expected in str(info.value)


def test_route_deadline_is_read() -> None:
    text = MINIMAL.replace("primary: small}", "primary: small, retry: {deadline_s: 45}}")
    assert parse_config(text).routes[0].retry.deadline_s == 45.0


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("format: openai", "format: carrier-pigeon"), "providers.emu.format"),
        (("provider: emu,", "provider: nope,"), "models.small.provider: unknown provider 'nope'"),
        (("primary: small", "primary: large"), "routes[0].primary: unknown model 'large'"),
        (("context_window: 1000", "context_window: -5"), "models.small.context_window"),
        (("upstream: s,", "upstream: s, colour: red,"), "models.small.colour"),
        (('input_per_mtok: "1"', 'input_per_mtok: "cheap"'), "models.small.input_per_mtok"),
    ],
)
def test_invalid_config_names_the_field(edit: tuple[str, str], expected: str) -> None:
    text = MINIMAL.replace(*edit)
    assert text != MINIMAL
    with pytest.raises(ConfigError) as info:
        parse_config(text, "gw.yaml")
    assert "gw.yaml" in str(info.value)
    assert expected in str(info.value)


def test_yaml_syntax_error_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_config("providers: [", "gw.yaml")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_environment_references_expand_in_values() -> None:
    text = MINIMAL.replace('"http://127.0.0.1:1/v1"', '"${EMU_URL:-http://127.0.0.1:9}/v1"')
    assert str(parse_config(text, env={}).providers["emu"].base_url) == "http://127.0.0.1:9/v1"
    got = parse_config(text, env={"EMU_URL": "http://emulator:8400"})
    assert str(got.providers["emu"].base_url) == "http://emulator:8400/v1"


def test_environment_reference_without_default_must_be_set() -> None:
    text = MINIMAL.replace('"http://127.0.0.1:1/v1"', '"${EMU_URL}/v1"')
    with pytest.raises(ConfigError, match=r"providers.emu.base_url: environment variable EMU_URL"):
        parse_config(text, "gw.yaml", env={})


def test_limits_default_and_the_sizes_derived_from_them() -> None:
    limits = parse_config(MINIMAL).limits
    assert limits.max_request_bytes == 4 * 1024 * 1024
    # The request topic takes more than the limit, so oversize requests reach triage.
    assert limits.request_topic_bytes == 8 * 1024 * 1024
    assert limits.event_topic_bytes == 12 * 1024 * 1024
    assert limits.response_topic_bytes == 4 * 1024 * 1024
    assert limits.largest_message_bytes == 12 * 1024 * 1024
    assert load_config(EXAMPLE).limits == limits


def test_small_limits_never_shrink_topics_below_kafkas_default() -> None:
    limits = parse_config(MINIMAL + "limits: {max_request_bytes: 65536}\n").limits
    assert limits.max_request_bytes == 65536
    assert limits.request_topic_bytes == KAFKA_DEFAULT_MESSAGE_BYTES
    assert limits.event_topic_bytes == KAFKA_DEFAULT_MESSAGE_BYTES


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ("{max_request_bytes: 100}", "limits.max_request_bytes: Input should be greater than"),
        ("{max_request_bytes: 17000000}", "limits.max_request_bytes: Input should be less than"),
        ("{max_request_bytes: 4MB}", "limits.max_request_bytes: Input should be a valid integer"),
        ("{max_bytes: 4096}", "limits.max_bytes: Extra inputs are not permitted"),
    ],
)
def test_invalid_limits_name_the_field(limits: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(MINIMAL + f"limits: {limits}\n", "gw.yaml")
    assert "gw.yaml" in str(info.value)
    assert expected in str(info.value)


def test_a_deadline_longer_than_the_ledger_remembers_is_refused() -> None:
    text = MINIMAL.replace("primary: small}", "primary: small, retry: {deadline_s: 900}}")
    text += "delivery: {dedup_horizon_s: 600}\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, "gw.yaml")
    assert "routes[0].retry.deadline_s: 900 is longer than delivery.dedup_horizon_s" in str(
        info.value
    )


@pytest.mark.parametrize(
    ("delivery", "expected"),
    [
        ("{handler_tries: 0}", "delivery.handler_tries"),
        ("{max_unacked: 0}", "delivery.max_unacked"),
        ("{dedup_horizon_s: 0}", "delivery.dedup_horizon_s"),
        ("{retries: 3}", "delivery.retries: Extra inputs"),
    ],
)
def test_delivery_settings_name_the_field(delivery: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(MINIMAL + f"delivery: {delivery}\n", "gw.yaml")
    assert expected in str(info.value)


# Providers: one model per wire format, chosen by `format`.

PROVIDER = '{format: openai, base_url: "http://127.0.0.1:1/v1", api_key_env: EMU_KEY}'


def _with_provider(entry: str) -> str:
    text = MINIMAL.replace(PROVIDER, entry)
    assert text != MINIMAL
    return text


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("{format: carrier-pigeon}", "providers.emu.format: unknown format 'carrier-pigeon'"),
        ("{format: 7}", "providers.emu.format: unknown format '7'"),
        ("{base_url: 'http://x'}", "providers.emu.format: Field required"),
    ],
)
def test_format_must_be_known(entry: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_with_provider(entry), "gw.yaml")
    assert expected in str(info.value)
    assert "expected one of: openai, anthropic, gemini, cohere, bedrock, ollama" in str(info.value)


@pytest.mark.parametrize(
    ("fmt", "fields", "foreign"),
    [
        # AWS's fields belong to bedrock only.
        ("openai", "region: eu-west-1", "region"),
        ("openai", "aws_access_key_env: K", "aws_access_key_env"),
        ("anthropic", "preset: openai", "preset"),
        ("gemini", "api_version: v1", "api_version"),
        ("bedrock", "region: r, api_key_env: K", "api_key_env"),
    ],
)
def test_a_field_of_another_format_is_refused(fmt: str, fields: str, foreign: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_with_provider(f"{{format: {fmt}, {fields}}}"), "gw.yaml")
    # The path as written: pydantic's extra level for the union member is left out.
    expected = f"providers.emu.{foreign}: Extra inputs are not permitted for format {fmt}"
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("{format: openai, preset: azure, base_url: 'https://r.openai.azure.com'}",
         "providers.emu.api_version: required by the azure preset"),
        ("{format: openai, preset: vllm}",
         "providers.emu.base_url: required for format openai with preset vllm"),
        ("{format: bedrock}", "providers.emu.region: required by format bedrock"),
        ("{format: openai, api_key_env: A, api_key_file: B}",
         "providers.emu: api_key_env and api_key_file: give one of them"),
        ("{format: ollama, timeout_s: 0}", "providers.emu.timeout_s: Input should be greater"),
    ],
)  # fmt: skip
def test_missing_or_bad_fields_name_their_path(entry: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_with_provider(entry), "gw.yaml")
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("entry", "base_url"),
    [
        ("{format: openai}", "https://api.openai.com/v1"),
        ("{format: openai, preset: groq}", "https://api.groq.com/openai/v1"),
        ("{format: anthropic}", "https://api.anthropic.com"),
        ("{format: gemini}", "https://generativelanguage.googleapis.com"),
        ("{format: cohere}", "https://api.cohere.com"),
        ("{format: ollama}", "http://127.0.0.1:11434"),
        ("{format: bedrock, region: eu-west-1}", "https://bedrock-runtime.eu-west-1.amazonaws.com"),
        ("{format: bedrock, base_url: 'http://emu:8900/'}", "http://emu:8900"),
    ],
)
def test_each_format_needs_only_its_format_where_an_endpoint_is_public(
    entry: str, base_url: str
) -> None:
    provider = parse_config(_with_provider(entry), env={}).providers["emu"]
    assert provider.resolved_base_url == base_url


def test_every_openai_preset_says_whether_it_has_a_public_endpoint() -> None:
    assert set(OPENAI_PRESET_BASE_URLS) == set(get_args(OpenAIPreset))
    needs_base_url = {p for p, url in OPENAI_PRESET_BASE_URLS.items() if url is None}
    assert needs_base_url == {"azure", "vllm", "lmstudio", "tgi"}


def test_example_config_gives_each_provider_its_format_model() -> None:
    config = load_config(EXAMPLE)
    kinds = {name: type(p) for name, p in config.providers.items()}
    assert kinds["openai"] is OpenAIProvider
    assert kinds["azure"] is OpenAIProvider
    assert kinds["bedrock"] is BedrockProvider
    assert {p.format for p in config.providers.values()} == set(get_args(WireFormat))
