"""Where a routed request goes next: admission for a tenant with budgets or rate limits,
else straight to dispatch. Shared by triage and by the cache stage (a miss's leader)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from schemas.admission import AdmitEvent
from schemas.config import GatewayConfig
from schemas.events import DispatchEvent
from streams.publisher import Publisher

CallHere = Callable[[DispatchEvent], Awaitable[None]]


async def forward(
    config: GatewayConfig,
    publisher: Publisher,
    dispatch: DispatchEvent,
    call_here: CallHere | None = None,
) -> None:
    """``call_here``: makes the attempt in place instead of sending it to the dispatch
    topic (triage's inline first attempts); admission still comes first when due."""
    tenant = dispatch.request.tenant
    if config.admission.policy_for(tenant) is None:
        if call_here is not None:
            await call_here(dispatch)
        else:
            await publisher.send(config.topics.dispatch, dispatch, dispatch.request_id)
        return
    admit = AdmitEvent(request_id=dispatch.request_id, tenant=tenant, dispatch=dispatch)
    await publisher.send(config.topics.admission, admit, tenant)
