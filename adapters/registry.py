"""Choosing the adapter for a configured provider."""

from __future__ import annotations

import httpx

from adapters.anthropic_messages import AnthropicMessagesAdapter
from adapters.base import ChatAdapter
from adapters.openai_compat import OpenAICompatAdapter
from schemas.config import ProviderConfig


def build_adapter(
    name: str, config: ProviderConfig, client: httpx.AsyncClient, api_key: str | None
) -> ChatAdapter:
    """The adapter for ``config.format``, sending through the shared ``client``.

    ``api_key`` None sends no credentials; the provider's 401 then surfaces as
    :class:`adapters.errors.AuthenticationFailed` on the first call.
    """
    base_url = str(config.base_url)
    match config.format:
        case "openai":
            return OpenAICompatAdapter(name, base_url, client, api_key)
        case "anthropic":
            return AnthropicMessagesAdapter(name, base_url, client, api_key)
