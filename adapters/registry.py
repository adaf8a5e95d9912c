"""Choosing the adapter for a configured provider."""

from __future__ import annotations

import httpx

from adapters.anthropic_messages import AnthropicMessagesAdapter
from adapters.base import ChatAdapter
from adapters.bedrock_converse import BedrockConverseAdapter, region_for
from adapters.cohere_chat import CohereChatAdapter
from adapters.credentials import Credentials
from adapters.gemini import GeminiAdapter
from adapters.ollama_chat import OllamaChatAdapter
from adapters.openai_compat import OpenAICompatAdapter
from schemas.config import ProviderConfig


def build_adapter(
    name: str, config: ProviderConfig, client: httpx.AsyncClient, credentials: Credentials
) -> ChatAdapter:
    """The adapter for ``config.format``, sending through the shared ``client``.

    Missing credentials send none; the provider's 401 then surfaces as
    :class:`adapters.errors.AuthenticationFailed` on the first call.
    """
    base_url = config.resolved_base_url
    assert base_url is not None  # the config validator guarantees one
    match config.format:
        case "openai":
            return OpenAICompatAdapter(name, config, client, credentials)
        case "anthropic":
            return AnthropicMessagesAdapter(
                name, base_url, client, credentials.api_key, headers=config.headers
            )
        case "gemini":
            return GeminiAdapter(
                name, base_url, client, credentials.api_key, headers=config.headers
            )
        case "bedrock":
            return BedrockConverseAdapter(
                name,
                base_url,
                client,
                credentials.aws,
                region=region_for(config.region, base_url),
                headers=config.headers,
            )
        case "cohere":
            return CohereChatAdapter(
                name, base_url, client, credentials.api_key, headers=config.headers
            )
        case "ollama":
            return OllamaChatAdapter(
                name, base_url, client, credentials.api_key, headers=config.headers
            )
        case _:
            raise NotImplementedError(f"format {config.format} has no adapter yet")
