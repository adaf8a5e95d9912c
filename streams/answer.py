"""The response to a request, from the call that answered it.

Shared by dispatch's single call and the consensus fan-out (streams/consensus.py), so a
field added to responses is filled the same way on both paths.
"""

from __future__ import annotations

from decimal import Decimal

from schemas.base import utcnow
from schemas.config import GatewayConfig
from schemas.consensus import ConsensusOutcome
from schemas.events import DispatchEvent
from schemas.responses import LLMResponse, StreamedCall, TokenUsage
from streams.model_client import ModelCall


def response_for(
    config: GatewayConfig,
    ev: DispatchEvent,
    model_name: str,
    call: ModelCall,
    *,
    streamed: StreamedCall | None = None,
    consensus: ConsensusOutcome | None = None,
    cost_usd: Decimal | None = None,
) -> LLMResponse:
    """``model_name``'s answer ``call``; ``cost_usd`` when the answer took more calls."""
    r = call.result
    mark = ev.admission
    return LLMResponse(
        request_id=ev.request_id,
        tenant=ev.request.tenant,
        route=ev.route,
        model=model_name,
        provider=config.models[model_name].provider,
        upstream_model=r.upstream_model,
        content=r.content,
        tool_calls=r.tool_calls,
        citations=r.citations,
        finish_reason=r.finish_reason,
        usage=TokenUsage(
            input_tokens=r.input_tokens,
            output_tokens=r.output_tokens,
            cached_input_tokens=r.cached_input_tokens,
        ),
        cost_usd=call.cost_usd if cost_usd is None else cost_usd,
        attempts=ev.attempt,
        latency_ms=round((utcnow() - ev.first_seen_at).total_seconds() * 1000, 3),
        provider_request_id=r.provider_request_id,
        downgraded=mark is not None and mark.downgraded,
        downgrade_reason=mark.downgrade_reason if mark is not None else None,
        strategy=ev.strategy,
        arm=ev.arm,
        streamed=streamed,
        consensus=consensus,
        context=ev.context,
    )
