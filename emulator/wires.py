"""The wire formats the emulator serves; each adds its routes to the one server."""

from __future__ import annotations

from emulator.anthropic_wire import AnthropicWire
from emulator.bedrock_wire import BedrockWire
from emulator.cohere_wire import CohereWire
from emulator.gemini_wire import GeminiWire
from emulator.ollama_wire import OllamaWire
from emulator.openai_wire import OpenAIWire, azure_wire, perplexity_wire
from emulator.wire import Wire


def all_wires() -> list[Wire]:
    return [
        OpenAIWire(),
        azure_wire(),
        perplexity_wire(),
        AnthropicWire(),
        GeminiWire(),
        BedrockWire(),
        CohereWire(),
        OllamaWire(),
    ]
