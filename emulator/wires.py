"""The wire formats the emulator serves; each adds its routes to the one server."""

from __future__ import annotations

from emulator.anthropic_wire import AnthropicWire
from emulator.openai_wire import OpenAIWire
from emulator.wire import Wire


def all_wires() -> list[Wire]:
    return [OpenAIWire(), AnthropicWire()]
