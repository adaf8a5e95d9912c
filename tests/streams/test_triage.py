import orjson
import pytest

from schemas.config import GatewayConfig, LimitsConfig
from schemas.config_loader import load_config
from streams.dead_letters import PAYLOAD_LIMIT
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


def _sized(size: int, **over: object) -> bytes:
    """A valid request of exactly ``size`` bytes, padded in its message text."""
    base = len(_raw(messages=[{"role": "user", "content": "x"}], **over))
    raw = _raw(messages=[{"role": "user", "content": "x" * (1 + size - base)}], **over)
    assert len(raw) == size
    return raw


def _limited(config: GatewayConfig, max_request_bytes: int) -> GatewayConfig:
    return config.model_copy(update={"limits": LimitsConfig(max_request_bytes=max_request_bytes)})


def test_request_at_the_limit_is_routed_and_one_byte_over_is_too_large(
    config: GatewayConfig,
) -> None:
    small = _limited(config, 4096)
    assert isinstance(triage(_sized(4096), small, RecentIds(10)), Routed)

    out = triage(_sized(4097, request_id="big-1"), small, RecentIds(10))
    assert isinstance(out, Rejected)
    letter = out.dead_letter
    assert (letter.reason, letter.stage) == ("request_too_large", "triage")
    assert "4097 bytes" in letter.detail and "limit of 4096 bytes" in letter.detail
    assert "limits.max_request_bytes" in letter.detail
    assert (letter.request_id, letter.tenant) == ("big-1", "acme")
    assert letter.payload is not None and len(letter.payload) == PAYLOAD_LIMIT
    assert out.usage is None


def test_default_limit_takes_a_few_images_and_refuses_more(config: GatewayConfig) -> None:
    image = {"type": "image", "media_type": "image/png", "data": "QUJD" * 250_000}  # 1 MB
    three = [{"role": "user", "content": [image, image, image]}]
    assert isinstance(triage(_raw(messages=three), config, RecentIds(10)), Routed)
    five = [{"role": "user", "content": [image] * 5}]
    out = triage(_raw(messages=five), config, RecentIds(10))
    assert isinstance(out, Rejected) and out.dead_letter.reason == "request_too_large"
    assert f"limit of {4 * 1024 * 1024} bytes" in out.dead_letter.detail


def test_size_is_checked_before_the_json_is_read(config: GatewayConfig) -> None:
    out = triage(b"{" * 5000, _limited(config, 4096), RecentIds(10))
    assert isinstance(out, Rejected)
    assert out.dead_letter.reason == "request_too_large"
    assert out.dead_letter.request_id is None


def test_oversize_identity_is_left_out_of_the_dead_letter(config: GatewayConfig) -> None:
    raw = _raw(request_id="r" * 3000, tenant="t" * 3000)
    out = triage(raw, _limited(config, 4096), RecentIds(10))
    assert isinstance(out, Rejected) and out.dead_letter.reason == "request_too_large"
    assert (out.dead_letter.request_id, out.dead_letter.tenant) == (None, None)


def test_a_refused_request_can_be_resent_smaller_under_its_id(config: GatewayConfig) -> None:
    small, recent = _limited(config, 4096), RecentIds(10)
    first = triage(_sized(5000, request_id="again"), small, recent)
    assert isinstance(first, Rejected)
    assert isinstance(triage(_sized(1000, request_id="again"), small, recent), Routed)
