"""Call a configured model by its config name: adapter lookup, timeout, usage and cost.

It joins the config, the adapters (and their capabilities) and the price table from
:mod:`policy.pricing`, so it lives above both layers, beside its one user, the dispatcher.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from decimal import Decimal

import httpx

from adapters.base import ChatAdapter, ProviderRequest, ProviderResult, StreamDelta
from adapters.capabilities import check_supported
from adapters.credentials import credentials_for
from adapters.registry import ADAPTERS
from policy.pricing import cost_usd
from schemas.config import GatewayConfig
from schemas.events import LLMRequest


@dataclass(frozen=True)
class ModelCall:
    result: ProviderResult
    cost_usd: Decimal


class ModelClient:
    """One adapter per configured provider, sharing one HTTP client."""

    def __init__(
        self,
        config: GatewayConfig,
        http: httpx.AsyncClient,
        env: Mapping[str, str] = os.environ,
    ) -> None:
        self._config = config
        self._adapters: dict[str, ChatAdapter] = {
            name: ADAPTERS[provider.format](name, provider, http, credentials_for(provider, env))
            for name, provider in config.providers.items()
        }

    def _prepare(
        self, model_name: str, request: LLMRequest
    ) -> tuple[ChatAdapter, ProviderRequest, float]:
        model = self._config.models[model_name]
        adapter = self._adapters[model.provider]
        call = ProviderRequest(
            upstream_model=model.upstream,
            messages=request.messages,
            params=request.params,
            tools=request.tools,
            tool_choice=request.tool_choice,
            response_format=request.response_format,
        )
        check_supported(call, adapter.capabilities, model.provider)
        return adapter, call, self._config.providers[model.provider].timeout_s

    def _priced(self, model_name: str, result: ProviderResult) -> ModelCall:
        model = self._config.models[model_name]
        cost = cost_usd(
            model, result.input_tokens, result.output_tokens, result.cached_input_tokens
        )
        return ModelCall(result, cost)

    async def complete(self, model_name: str, request: LLMRequest) -> ModelCall:
        adapter, call, timeout_s = self._prepare(model_name, request)
        return self._priced(model_name, await adapter.complete(call, timeout_s=timeout_s))

    async def stream(
        self, model_name: str, request: LLMRequest
    ) -> AsyncIterator[StreamDelta | ModelCall]:
        """The call in streaming mode: its deltas, then the priced whole as the last item."""
        adapter, call, timeout_s = self._prepare(model_name, request)
        async for part in adapter.stream(call, timeout_s=timeout_s):
            if isinstance(part, ProviderResult):
                yield self._priced(model_name, part)
            else:
                yield part
