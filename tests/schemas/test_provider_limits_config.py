"""The ``provider_limits:`` config section: its defaults and the errors that name the field."""

from typing import Any

import pytest
import yaml

from schemas.config import GatewayConfig
from schemas.config_loader import ConfigError, parse_config
from schemas.provider_limits import ProviderLimitConfig
from tests.paths import EXAMPLE_CONFIG


def _load(limits: dict[str, Any]) -> GatewayConfig:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["provider_limits"] = limits
    return parse_config(yaml.safe_dump(data), "gw.yaml", env={})


def _problem(limits: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        _load(limits)
    message = str(info.value)
    assert message.startswith("gw.yaml: invalid config")
    return message


def test_without_the_section_nothing_is_limited() -> None:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data.pop("provider_limits", None)
    assert parse_config(yaml.safe_dump(data), env={}).provider_limits == {}


def test_a_provider_and_a_model_limit_load_with_their_defaults() -> None:
    config = _load({"openai": {"rpm": 300}, "gpt-4o": {"tpm": 30000, "on_limit": "next_model"}})
    assert config.provider_limits == {
        "openai": ProviderLimitConfig(rpm=300),
        "gpt-4o": ProviderLimitConfig(tpm=30000, on_limit="next_model"),
    }
    limit = config.provider_limits["openai"]
    assert (limit.tpm, limit.burst_s, limit.on_limit, limit.max_wait_s) == (
        None,
        1.0,
        "wait",
        30.0,
    )


def test_an_unknown_name_is_an_error_that_lists_the_names() -> None:
    message = _problem({"opnai": {"rpm": 300}})
    assert "provider_limits.opnai: unknown provider or model 'opnai'" in message
    assert "providers: anthropic, azure," in message
    assert "models: azure-gpt-4o," in message


def test_a_name_of_both_a_provider_and_a_model_is_ambiguous() -> None:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["models"]["openai"] = data["models"]["gpt-4o"]
    data["provider_limits"] = {"openai": {"rpm": 300}}
    with pytest.raises(ConfigError) as info:
        parse_config(yaml.safe_dump(data), "gw.yaml", env={})
    assert "provider_limits.openai: 'openai' names both a provider and a model" in str(info.value)


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        ({}, "provider_limits.openai.rpm: give it, tpm, or both"),
        ({"burst_s": 2}, "provider_limits.openai.rpm: give it, tpm, or both"),
        ({"rpm": 0}, "provider_limits.openai.rpm: Input should be greater than 0"),
        ({"tpm": -5}, "provider_limits.openai.tpm: Input should be greater than 0"),
        ({"rpm": 1, "burst_s": 0}, "provider_limits.openai.burst_s: Input should be greater"),
        ({"rpm": 1, "burst_s": 61}, "provider_limits.openai.burst_s: Input should be less"),
        ({"rpm": 1, "max_wait_s": -1}, "provider_limits.openai.max_wait_s: Input should be"),
        ({"rpm": 1, "on_limit": "reject"}, "provider_limits.openai.on_limit: Input should be"),
        ({"rpm": 1, "requests_per_minute": 5}, "provider_limits.openai.requests_per_minute"),
    ],
)
def test_a_bad_limit_names_its_field(limit: dict[str, Any], expected: str) -> None:
    assert expected in _problem({"openai": limit})
