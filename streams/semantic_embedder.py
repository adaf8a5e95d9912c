"""The embedding function of semantic caches: the router's static encoder (one per process,
shared with the learned scorer), loaded at start-up when any route caches semantically so
that a missing encoder stops the worker with the command that builds it."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from policy.scoring import learned_scorer
from policy.semantic_cache import Embed
from schemas.config import GatewayConfig


def semantic_embedder(config: GatewayConfig) -> Callable[[], tuple[Embed, int]]:
    model_dir, encoder_dir = config.router.model_dir, config.router.encoder_dir

    @cache
    def load() -> tuple[Embed, int]:
        encoder = learned_scorer(model_dir, encoder_dir).encoder
        return encoder.embed_one, encoder.dim

    if any(r.cache is not None and r.cache.mode == "semantic" for r in config.routes):
        load()  # raises ScorerLoadError naming the setting and the build command
    return load
