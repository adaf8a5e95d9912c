"""Cost of a call from the config's price table, in exact decimal dollars."""

from __future__ import annotations

from decimal import Decimal

from schemas.config import ModelConfig

_PER_TOKEN = Decimal(1_000_000)
# Matches the usage table's Decimal(18, 9) column: a nano-dollar is far below any price.
_QUANTUM = Decimal("0.000000001")


def cost_usd(
    model: ModelConfig, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0
) -> Decimal:
    """``input_tokens`` counts all prompt tokens; the cached ones among them are billed at
    ``cached_input_per_mtok`` when the model has such a price, else at the input price."""
    cached = min(cached_input_tokens, input_tokens)
    cached_price = model.cached_input_per_mtok
    if cached_price is None:
        cached_price = model.input_per_mtok
    total = (
        model.input_per_mtok * (input_tokens - cached)
        + cached_price * cached
        + model.output_per_mtok * output_tokens
    ) / _PER_TOKEN
    return total.quantize(_QUANTUM)
