"""Read the YAML config file and turn every problem into one readable ConfigError."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from schemas.config import GatewayConfig
from schemas.providers import WireFormat


class ConfigError(Exception):
    """The config file cannot be used; the message names the file and each bad field."""


_FORMATS = get_args(WireFormat)
_NAMED_FIELD = re.compile(r"^([a-z_]+): ")


def _without_format_tag(loc: tuple[int | str, ...]) -> tuple[tuple[int | str, ...], str | None]:
    """The location as written in the file, and the provider format pydantic put in it.

    Pydantic names the member of a tagged union in the location (providers.emu.openai.
    api_version); the file has no such level.
    """
    if len(loc) >= 3 and loc[0] == "providers" and loc[2] in _FORMATS:
        return loc[:2] + loc[3:], str(loc[2])
    return loc, None


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def _problem(err: ErrorDetails) -> str:
    """One line naming the field and what is wrong with it."""
    loc, fmt = _without_format_tag(tuple(err["loc"]))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        # The union's own wording names neither the field nor the choices plainly.
        loc += ("format",)
        given = err.get("ctx", {}).get("tag")
        msg = "Field required" if given is None else f"unknown format {given!r}"
        msg += f", expected one of: {', '.join(_FORMATS)}"
    elif err["type"] == "extra_forbidden" and fmt is not None:
        msg += f" for format {fmt}"
    elif err["type"] == "value_error" and loc and (named := _NAMED_FIELD.match(msg)):
        # A model validator's message starts with the field it is about.
        loc += (named.group(1),)
        msg = msg[named.end() :]
    # Cross-reference errors raised by the model validator already carry their own
    # field path in the message.
    return f"{_field_path(loc)}: {msg}" if loc else msg


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
        problems = [f"  {_problem(err)}" for err in exc.errors()]
        raise ConfigError(f"{source}: invalid config\n" + "\n".join(problems)) from exc


def load_config(path: str | Path) -> GatewayConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from exc
    return parse_config(text, str(path))
