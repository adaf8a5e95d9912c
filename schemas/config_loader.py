"""Read the YAML config file and turn every problem into one readable ConfigError."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from schemas.config import GatewayConfig


class ConfigError(Exception):
    """The config file cannot be used; the message names the file and each bad field."""


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def parse_config(text: str, source: str = "<config>") -> GatewayConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            # Cross-reference errors raised by the model validator already carry
            # their own field path in the message.
            where = _field_path(tuple(err["loc"]))
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"  {where}: {msg}" if err["loc"] else f"  {msg}")
        raise ConfigError(f"{source}: invalid config\n" + "\n".join(problems)) from exc


def load_config(path: str | Path) -> GatewayConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from exc
    return parse_config(text, str(path))


def missing_api_keys(config: GatewayConfig) -> list[str]:
    """One line per provider that a route uses whose key variable is unset.

    Providers no route reaches are not checked: an operator may list them ahead of use.
    """
    used_models = {m for r in config.routes for m in [r.primary, *r.fallbacks]}
    used_providers = {config.models[m].provider for m in used_models}
    return [
        f"providers.{name}.api_key_env: environment variable {p.api_key_env} is not set"
        for name, p in sorted(config.providers.items())
        if name in used_providers and p.api_key_env and not os.environ.get(p.api_key_env)
    ]
