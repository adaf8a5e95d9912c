"""The official ``openai`` SDK as the judge of the front door's wire translation.

:func:`sdk_client` is a real ``openai.OpenAI`` whose HTTP transport hands each request to
a function in this process instead of a socket: the SDK serialises the bodies it sends
and parses (and retries on) the replies exactly as it does over the network.
:func:`fits` holds a body to an SDK model strictly: no key the SDK does not declare, no
required key missing, every value valid.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx2
import openai
from pydantic import BaseModel

from schemas.events import LLMResponse, TokenUsage
from tests.emulator.sdk_fields import model_errors

Handler = Callable[[httpx2.Request], httpx2.Response]
BASE_URL = "http://front.test/v1"


def sdk_client(handler: Handler, *, max_retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="test-key",
        base_url=BASE_URL,
        max_retries=max_retries,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )


def fits(body: object, model: type[BaseModel]) -> list[str]:
    """Where ``body`` strays from ``model``; empty when the SDK declares all of it."""
    errors = model_errors(body, model)
    if not errors:
        model.model_validate(body)
    return errors


def response(**fields: Any) -> LLMResponse:
    base: dict[str, Any] = {
        "request_id": "ry-1",
        "tenant": "acme",
        "route": "fast",
        "model": "small-model",
        "provider": "emu",
        "upstream_model": "emu-small",
        "content": "Hello there.",
        "finish_reason": "stop",
        "usage": TokenUsage(input_tokens=12, output_tokens=5, cached_input_tokens=4),
        "cost_usd": Decimal("0.0001"),
        "attempts": 1,
        "latency_ms": 12.5,
    }
    return LLMResponse.model_validate(base | fields)
