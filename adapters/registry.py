"""The adapter class for each wire format.

Every adapter is built the same way, ``ADAPTERS[config.format](name, config, http,
credentials)``, and takes the provider config of its own format. Missing credentials
send none; the provider's 401 then surfaces as
:class:`adapters.errors.AuthenticationFailed` on the first call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from adapters.anthropic.adapter import AnthropicAdapter
from adapters.base import ChatAdapter
from adapters.bedrock.adapter import BedrockAdapter
from adapters.cohere.adapter import CohereAdapter
from adapters.gemini.adapter import GeminiAdapter
from adapters.ollama.adapter import OllamaAdapter
from adapters.openai.adapter import OpenAIAdapter
from schemas.providers import WireFormat

# Callable[..., ...] because each constructor takes its own format's config; the key
# and the config's format are the same literal, which tests/adapters/test_registry.py checks.
ADAPTERS: Mapping[WireFormat, Callable[..., ChatAdapter]] = MappingProxyType(
    {
        "openai": OpenAIAdapter,
        "anthropic": AnthropicAdapter,
        "gemini": GeminiAdapter,
        "cohere": CohereAdapter,
        "bedrock": BedrockAdapter,
        "ollama": OllamaAdapter,
    }
)
