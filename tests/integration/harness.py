"""Integration-test helpers on top of devtools.stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devtools.stack import (
    Emulator,
    Worker,
    collect,
    derive_config,
    publish,
    request_event,
    wait_committed,
)
from tests.paths import EXAMPLE_CONFIG

__all__ = [
    "Emulator",
    "Worker",
    "collect",
    "gateway_config",
    "publish",
    "request_event",
    "wait_committed",
]


def gateway_config(tmp: Path, emulator_url: str, name: str, **overrides: Any) -> Path:
    return derive_config(EXAMPLE_CONFIG, tmp, emulator_url, name, **overrides)
