import orjson
import pytest

from schemas.config import GatewayConfig
from schemas.config_loader import load_config
from streams.triage import Duplicate, RecentIds, Rejected, Routed, triage
from tests.paths import EXAMPLE_CONFIG


@pytest.fixture
def config() -> GatewayConfig:
    return load_config(EXAMPLE_CONFIG)


def _raw(**over: object) -> bytes:
    data: dict[str, object] = {
        "request_id": "r-1",
        "tenant": "acme",
        "messages": [{"role": "user", "content": "hello"}],
    }
    data.update(over)
    return orjson.dumps(data)


def test_valid_request_becomes_a_plan(config: GatewayConfig) -> None:
    out = triage(_raw(), config, RecentIds(10))
    assert isinstance(out, Routed)
    assert out.dispatch.route == "default"
    assert out.dispatch.candidates == ["gpt-4o-mini", "claude-haiku"]
    assert out.dispatch.attempt == 1


def test_not_json_is_a_dead_letter_with_payload(config: GatewayConfig) -> None:
    out = triage(b"{nope", config, RecentIds(10))
    assert isinstance(out, Rejected)
    assert out.dead_letter.reason == "invalid_json"
    assert out.dead_letter.payload == "{nope"


def test_schema_failure_names_field_and_keeps_request_id(config: GatewayConfig) -> None:
    out = triage(_raw(messages=[]), config, RecentIds(10))
    assert isinstance(out, Rejected)
    assert out.dead_letter.reason == "schema_invalid"
    assert "messages" in out.dead_letter.detail
    assert out.dead_letter.request_id == "r-1"


def test_unknown_route_is_rejected_with_usage_row(config: GatewayConfig) -> None:
    out = triage(_raw(route="platinum"), config, RecentIds(10))
    assert isinstance(out, Rejected)
    assert out.dead_letter.reason == "unknown_route"
    assert out.usage is not None and out.usage.outcome == "rejected"


def test_duplicates_are_dropped_within_the_window(config: GatewayConfig) -> None:
    recent = RecentIds(2)
    assert isinstance(triage(_raw(request_id="a"), config, recent), Routed)
    assert isinstance(triage(_raw(request_id="a"), config, recent), Duplicate)
    triage(_raw(request_id="b"), config, recent)
    triage(_raw(request_id="c"), config, recent)
    # "a" fell out of the bounded window
    assert isinstance(triage(_raw(request_id="a"), config, recent), Routed)
