"""Read the YAML config file and turn every problem into one readable ConfigError."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand(value: Any, env: Mapping[str, str], where: str) -> Any:
    """Replace ${NAME} and ${NAME:-default} in string values (never in keys)."""
    if isinstance(value, dict):
        return {k: _expand(v, env, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"{where}: environment variable {name} is not set and has no default")

    return _ENV_REF.sub(sub, value)


def parse_config(
    text: str, source: str = "<config>", env: Mapping[str, str] = os.environ
) -> GatewayConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    try:
        data = _expand(data, env, "")
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
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
