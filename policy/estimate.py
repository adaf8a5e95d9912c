"""What a request will cost at most, before it is sent: tokens and USD.

The estimate is meant to be high rather than low: a hard budget admits a request only if
its estimate fits, so an estimate below the real cost is what lets spend pass a limit
(docs/design/state.md). Input tokens come from UTF-8 bytes (a BPE token is at least one
byte, and English averages four or more), output tokens from ``max_tokens``.
"""

from __future__ import annotations

import math
from decimal import Decimal

from adapters import json_body
from policy.pricing import cost_usd
from schemas.budgets import AdmissionConfig
from schemas.config import GatewayConfig
from schemas.events import LLMRequest

# Role markers and separators every chat template adds per message.
_TOKENS_PER_MESSAGE = 4


def input_tokens(request: LLMRequest, settings: AdmissionConfig) -> int:
    size = 0
    images = 0
    for message in request.messages:
        size += len(message.text.encode())
        images += len(message.images)
        if message.tool_calls:
            size += len(json_body.dumps([c.model_dump(mode="json") for c in message.tool_calls]))
    if request.tools:
        size += len(json_body.dumps([t.model_dump(mode="json") for t in request.tools]))
    if request.response_format is not None and request.response_format.json_schema is not None:
        size += len(json_body.dumps(request.response_format.json_schema))
    return (
        math.ceil(size / settings.bytes_per_token)
        + _TOKENS_PER_MESSAGE * len(request.messages)
        + images * settings.image_tokens
    )


def output_tokens(request: LLMRequest, settings: AdmissionConfig) -> int:
    return request.params.max_tokens or settings.default_max_tokens


def request_tokens(request: LLMRequest, settings: AdmissionConfig) -> int:
    """What a tokens-per-minute limit charges: input estimate plus the output allowance."""
    return input_tokens(request, settings) + output_tokens(request, settings)


def cost_estimate(request: LLMRequest, candidates: list[str], config: GatewayConfig) -> Decimal:
    """The dearest candidate's price for this request: any fallback stays within it."""
    settings = config.admission
    tokens_in = input_tokens(request, settings)
    tokens_out = output_tokens(request, settings)
    prices = [config.models[m] for m in candidates if m in config.models]
    return max((cost_usd(m, tokens_in, tokens_out) for m in prices), default=Decimal(0))
