"""Where a routed request goes next: admission for a tenant with budgets or rate limits,
else straight to dispatch. Shared by triage and by the cache stage (a miss's leader)."""

from __future__ import annotations

from schemas.admission import AdmitEvent
from schemas.config import GatewayConfig
from schemas.events import DispatchEvent
from streams.publisher import Publisher


async def forward(config: GatewayConfig, publisher: Publisher, dispatch: DispatchEvent) -> None:
    tenant = dispatch.request.tenant
    if config.admission.policy_for(tenant) is None:
        await publisher.send(config.topics.dispatch, dispatch, dispatch.request_id)
        return
    admit = AdmitEvent(request_id=dispatch.request_id, tenant=tenant, dispatch=dispatch)
    await publisher.send(config.topics.admission, admit, tenant)
