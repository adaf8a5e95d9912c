"""What the admission and cache stage tests share: a one-model config, and partition
states that start empty (the broker read of the state topic is the one stand-in)."""

from __future__ import annotations

from typing import Any

from schemas.config import GatewayConfig
from streams.cache_state import CacheStates
from streams.tenant_state import TenantStates


def one_model_config(**extra: Any) -> GatewayConfig:
    """Provider ``a``, model ``m``, route ``default`` (overridable), plus ``extra``."""
    model = {
        "provider": "a",
        "upstream": "u",
        "input_per_mtok": "1",
        "output_per_mtok": "1",
        "context_window": 100_000,
    }
    data: dict[str, Any] = {
        "providers": {"a": {"format": "openai", "base_url": "http://127.0.0.1:1/v1"}},
        "models": {"m": model},
        "routes": [{"name": "default", "primary": "m"}],
    }
    return GatewayConfig.model_validate(data | extra)


class EmptyTenantStates(TenantStates):
    async def _read(self, partitions: list[int]) -> dict[int, Any]:
        return {}


class EmptyCacheStates(CacheStates):
    async def _read(self, partitions: list[int]) -> dict[int, Any]:
        return {}
