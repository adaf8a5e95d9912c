"""The wire formats the emulator serves; each adds its routes to the one server.

The OpenAI wire is served three times over: as OpenAI speaks it, as Azure (deployment
in the path, ``api-key`` header, ``api-version`` query) and as Perplexity (no tools,
citations in every answer).
"""

from __future__ import annotations

from emulator.anthropic.wire import AnthropicWire
from emulator.base import Wire
from emulator.bedrock.wire import BedrockWire
from emulator.cohere.wire import CohereWire
from emulator.gemini.wire import GeminiWire
from emulator.ollama.wire import OllamaWire
from emulator.openai.wire import OpenAIWire, azure_wire, perplexity_wire

# Wires hold no state, so one instance of each serves every app.
WIRES: tuple[Wire, ...] = (
    OpenAIWire(),
    azure_wire(),
    perplexity_wire(),
    AnthropicWire(),
    GeminiWire(),
    BedrockWire(),
    CohereWire(),
    OllamaWire(),
)
