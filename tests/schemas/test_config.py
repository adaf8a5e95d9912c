from pathlib import Path

import pytest

from schemas.config_loader import ConfigError, load_config, parse_config

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
    assert config.routes[0].retry.max_attempts == 4


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
