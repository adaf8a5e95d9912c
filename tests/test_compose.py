"""docker-compose.yml agrees with the config defaults and the dev broker's Kafka version.

Validation is Compose's own: `docker compose config` (the v2 plugin) or Debian's
`docker-compose config` (v1), neither of which needs an engine. Without either CLI the
checks below still run on the YAML as written.
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.credentials import missing_credentials
from schemas.config import TopicsConfig
from schemas.config_loader import parse_config
from streams.topics import compacted

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
POM = ROOT / "devtools" / "kafka" / "pom.xml"
_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def _compose_cli() -> list[str] | None:
    """A Compose CLI that validates without an engine: the v2 plugin, else Debian's v1."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    cli = _compose_cli()
    if cli is None:
        # .ci/run installs Debian's docker-compose, so CI always takes the branch below;
        # a developer without any Compose CLI still gets the structural checks.
        project = yaml.safe_load(COMPOSE.read_text())
    else:
        result = subprocess.run(
            [*cli, "-f", str(COMPOSE), "config"], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{' '.join(cli)} config rejected the file:\n{result.stderr}"
        project = yaml.safe_load(result.stdout)
    found: dict[str, Any] = project["services"]
    return found


def _env(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):  # the "KEY=value" list form
        return dict(item.partition("=")[::2] for item in raw)
    return {key: "" if value is None else str(value) for key, value in raw.items()}


def test_init_creates_the_configured_topics(services: dict[str, Any]) -> None:
    defaults = TopicsConfig()
    expected = {value for name, value in defaults.model_dump().items() if name != "partitions"}
    env = _env(services["kafka-init"])
    assert set(env["TOPICS"].split()) == expected
    assert int(env["PARTITIONS"]) == defaults.partitions
    script = " ".join(services["kafka-init"]["command"])
    assert "kafka-topics.sh" in script and "TOPICS" in script and "PARTITIONS" in script


def test_init_compacts_the_state_topics_as_the_worker_would(services: dict[str, Any]) -> None:
    # A worker leaves the settings of an existing topic alone but for its size limit, so a
    # state topic the init container made uncompacted would never be compacted.
    env = _env(services["kafka-init"])
    settings = dict(item.split("=", 1) for item in env["COMPACTED_CONFIGS"].split())
    made = {topic: settings for topic in env["COMPACTED_TOPICS"].split()}
    assert made == compacted(TopicsConfig())
    script = " ".join(services["kafka-init"]["command"])
    assert "COMPACTED_TOPICS" in script and "COMPACTED_CONFIGS" in script
    assert "--config" in script


def test_worker_env(services: dict[str, Any]) -> None:
    env = _env(services["worker"])
    assert env["KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["CLICKHOUSE_URL"].startswith("http://")


def test_worker_config_resolves_to_the_compose_services(services: dict[str, Any]) -> None:
    """The config the worker container runs, read with the worker's environment."""
    command = services["worker"]["command"]
    in_image = Path(command[command.index("--config") + 1])
    local = ROOT / in_image.relative_to("/app")
    env = _env(services["worker"])
    config = parse_config(local.read_text(), str(local), env=env)
    emulator_port = services["emulator"]["command"][-1]
    for name, provider in config.providers.items():
        assert provider.base_url is not None, name
        assert provider.base_url.host == "emulator", name
        assert str(provider.base_url.port) == emulator_port, name
        names = (
            [provider.aws_access_key_env, provider.aws_secret_key_env]
            if provider.format == "bedrock"
            else [provider.api_key_env]
            if provider.api_key_env
            else []
        )
        for variable in names:
            assert variable in env, f"{name}: {variable} not in the worker's environment"
    assert missing_credentials(config, env=env) == []


def test_kafka_image_matches_dev_broker(services: dict[str, Any]) -> None:
    pom = ET.parse(POM).getroot()
    version = pom.findtext("m:properties/m:kafka.version", namespaces=_POM_NS)
    assert version, f"no kafka.version property in {POM}"
    for name in ("kafka", "kafka-init"):
        assert services[name]["image"] == f"apache/kafka:{version}"
