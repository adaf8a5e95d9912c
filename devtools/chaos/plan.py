"""What a chaos run does: the plan (scale, faults, their schedule) and the traffic it publishes."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

Topology = Literal["auto", "split", "single"]


class ChaosPlan(BaseModel):
    """What to inject and how much traffic; times scale with the publishing window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: int = Field(default=10_000, ge=1, description="valid requests published")
    rate: float = Field(default=150.0, gt=0, description="events published per second")
    kills: int = Field(default=3, ge=0, description="gateway SIGKILLs, each replaced at once")
    provider_outage_s: float = Field(default=30.0, ge=0)
    store_outage_s: float = Field(default=20.0, ge=0)
    provider_timeout_s: float = Field(default=5.0, gt=0, description="every provider's timeout")
    latency_median_ms: float = Field(default=200.0, gt=0)
    error_rates: dict[int, float] = Field(default_factory=lambda: {429: 0.03, 500: 0.02, 503: 0.01})
    hang_rate: float = Field(default=0.02, ge=0, le=1)
    bad_share: float = Field(default=0.02, ge=0, le=1, description="extra bad events, per valid")
    image_share: float = Field(default=0.05, ge=0, le=1)
    drain_deadline_s: float = Field(default=300.0, gt=0, description="after publishing ends")
    usage_deadline_s: float = Field(
        default=120.0, gt=0, description="for the usage topic to be committed, after the drain"
    )
    topology: Topology = "auto"
    gateways: int = Field(default=2, ge=1, description="gateway workers in the split topology")
    inline_first_attempts: bool = Field(
        default=True, description="the workers' dispatch.inline_first_attempts"
    )
    seed: int = 7

    @classmethod
    def small(cls) -> ChaosPlan:
        """The CI scale: about two minutes on a 2-core machine."""
        return cls(
            requests=600,
            rate=30.0,
            kills=1,
            provider_outage_s=5.0,
            store_outage_s=5.0,
            drain_deadline_s=60.0,
            usage_deadline_s=30.0,
        )

    @property
    def publish_s(self) -> float:
        return self.requests * (1 + self.bad_share) / self.rate

    def schedule(self) -> list[tuple[float, str]]:
        """(seconds after the first publish, fault), spread over the publishing window."""
        window = self.publish_s
        faults = [
            (window * (0.1 + 0.6 * i / max(self.kills, 1)), "kill") for i in range(self.kills)
        ]
        if self.provider_outage_s > 0:
            faults.append((window * 0.2, "provider_outage"))
        if self.store_outage_s > 0:
            faults.append((window * 0.6, "store_outage"))
        return sorted(faults)


@dataclass(frozen=True)
class Event:
    id: str
    kind: Literal["valid", "not_json", "schema_invalid"]
    value: bytes


def build_traffic(plan: ChaosPlan) -> list[Event]:
    """Valid requests of several routes and tenants, bad events spread among them."""
    rng = random.Random(plan.seed)
    events = [_valid_event(f"chaos-{i:06d}", rng, plan.image_share) for i in range(plan.requests)]
    n_bad = round(plan.requests * plan.bad_share)
    for i in range(n_bad):
        if i % 2 == 0:
            rid = f"chaos-bad-json-{i}"
            bad = Event(rid, "not_json", f'{{"request_id": "{rid}", "tenant": '.encode())
        else:
            rid = f"chaos-bad-schema-{i}"
            body = {"request_id": rid, "tenant": "acme", "messages": []}
            bad = Event(rid, "schema_invalid", orjson.dumps(body))
        events.insert(rng.randrange(len(events) + 1), bad)
    return events


def _valid_event(rid: str, rng: random.Random, image_share: float) -> Event:
    body: dict[str, Any] = {
        "request_id": rid,
        "tenant": "acme",
        "messages": [{"role": "user", "content": f"hello, a short question {rid}"}],
        "params": {"max_tokens": 64},
    }
    draw = rng.random()
    if draw < image_share:
        # task_type chat keeps it off routes whose models take inline images only.
        body["task_type"] = "chat"
        body["messages"][0]["content"] = [
            {"type": "text", "text": f"what is in this picture? {rid}"},
            {"type": "image", "media_type": "image/png", "url": f"https://example.com/{rid}.png"},
        ]
        return Event(rid, "valid", orjson.dumps(body))
    draw = rng.random()
    if draw < 0.15:
        body["task_type"] = "summarize"
        body["messages"][0]["content"] = f"Summarize: the meeting moved to Tuesday. {rid}"
    elif draw < 0.25:
        body["task_type"] = "code"
        body["messages"][0]["content"] = f"Write a function that reverses a list. {rid}"
    elif draw < 0.35:
        body["tenant"] = "tenant-2"
    elif draw < 0.40:
        body["route"] = "budget"
    elif draw < 0.45:
        body["route"] = "search"
    return Event(rid, "valid", orjson.dumps(body))
