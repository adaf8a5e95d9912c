"""The adapter class for each wire format.

Every adapter is built the same way, ``ADAPTERS[config.format](name, config, http,
credentials)``, and takes the provider config of its own format. Missing credentials
send none; the provider's 401 then surfaces as
:class:`adapters.errors.AuthenticationFailed` on the first call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from adapters.anthropic.adapter import CAPABILITIES as ANTHROPIC_CAPABILITIES
from adapters.anthropic.adapter import AnthropicAdapter
from adapters.base import ChatAdapter
from adapters.bedrock.adapter import CAPABILITIES as BEDROCK_CAPABILITIES
from adapters.bedrock.adapter import BedrockAdapter
from adapters.capabilities import Capabilities
from adapters.cohere.adapter import CAPABILITIES as COHERE_CAPABILITIES
from adapters.cohere.adapter import CohereAdapter
from adapters.gemini.adapter import CAPABILITIES as GEMINI_CAPABILITIES
from adapters.gemini.adapter import GeminiAdapter
from adapters.ollama.adapter import CAPABILITIES as OLLAMA_CAPABILITIES
from adapters.ollama.adapter import OllamaAdapter
from adapters.openai.adapter import OpenAIAdapter
from adapters.openai.presets import preset_for
from schemas.providers import OpenAIProvider, ProviderConfig, WireFormat

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

# The formats whose features do not depend on the provider's config.
_FIXED_CAPABILITIES: Mapping[WireFormat, Capabilities] = MappingProxyType(
    {
        "anthropic": ANTHROPIC_CAPABILITIES,
        "gemini": GEMINI_CAPABILITIES,
        "cohere": COHERE_CAPABILITIES,
        "bedrock": BEDROCK_CAPABILITIES,
        "ollama": OLLAMA_CAPABILITIES,
    }
)


def capabilities_of(config: ProviderConfig) -> Capabilities:
    """What the adapter ``ADAPTERS[config.format]`` would declare, without building it.

    Routing needs this before any call, in a stage that holds no HTTP client; the adapters
    declare the same (tests/policy/test_strategy.py builds each and compares).
    """
    if isinstance(config, OpenAIProvider):
        return preset_for(config).capabilities
    return _FIXED_CAPABILITIES[config.format]
