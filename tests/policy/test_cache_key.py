"""Cacheability of a request and the keys it is cached under (policy/cache_key.py)."""

from __future__ import annotations

from typing import Any

import pytest

from policy.cache_key import (
    IGNORED_FIELDS,
    KEYED_FIELDS,
    Cacheable,
    NotCacheable,
    cache_keys,
    cacheability,
    exact_key,
    scope_key,
    target_of,
)
from schemas.cache import CacheConfig
from schemas.config import GatewayConfig
from schemas.events import LLMRequest

TARGET = "default=small:a/s,big:b/b"
PNG = "iVBORw0KGgo="
SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}


def _request(**over: Any) -> LLMRequest:
    data: dict[str, Any] = {
        "request_id": "r1",
        "tenant": "acme",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Convert 5 km to miles."},
        ],
        "params": {"temperature": 0, "max_tokens": 100},
    }
    data.update(over)
    return LLMRequest.model_validate(data)


def _exact(request: LLMRequest, target: str = TARGET, cache: CacheConfig | None = None) -> str:
    return cache_keys(request, cache or CacheConfig(), target).exact


def _reversed(value: Any) -> Any:
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: _reversed(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed(v) for v in value]
    return value


# -- keys ----------------------------------------------------------------------------


def test_every_request_field_is_keyed_or_ignored_with_a_reason() -> None:
    fields = set(LLMRequest.model_fields)
    assert set(KEYED_FIELDS).isdisjoint(IGNORED_FIELDS)
    assert set(KEYED_FIELDS) | set(IGNORED_FIELDS) == fields
    assert all(reason.strip() for reason in IGNORED_FIELDS.values())


def test_key_is_stable_across_dict_order() -> None:
    rich: dict[str, Any] = {
        "messages": [
            {"role": "user", "content": "What is the weather?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": "c1", "name": "w", "arguments": {"x": 1, "y": [1, 2]}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ],
        "tools": [{"name": "w", "description": "weather", "parameters": SCHEMA}],
        "response_format": {"type": "json_schema", "json_schema": SCHEMA, "name": "out"},
        "params": {"temperature": 0, "max_tokens": 10, "stop": ["\n"]},
        "metadata": {"accept_truncation": "true", "user": "u1"},
    }
    a = _request(**rich)
    b = LLMRequest.model_validate(_reversed(a.model_dump(mode="json")))
    assert a.tools[0].parameters is not b.tools[0].parameters
    assert list(b.tools[0].parameters["properties"]) == ["b", "a"]
    assert _exact(a) == _exact(b)


def test_equal_requests_from_different_callers_share_a_key() -> None:
    a = _request()
    b = _request(
        request_id="other-7",
        created_at="2020-01-01T00:00:00+00:00",
        deadline_s=30,
        task_type="math",
        metadata={"user": "someone", "trace": "x"},
    )
    assert _exact(a) == _exact(b)


def test_one_text_part_keys_like_the_plain_string() -> None:
    parts = _request(messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    plain = _request(messages=[{"role": "user", "content": "hi"}])
    assert _exact(parts) == _exact(plain)


CHANGES: dict[str, dict[str, Any]] = {
    "message text": {"messages": [{"role": "user", "content": "Convert 5 miles to km."}]},
    "whitespace": {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Convert 5 km to miles. "},
        ]
    },
    "role": {
        "messages": [
            {"role": "user", "content": "Be brief."},
            {"role": "user", "content": "Convert 5 km to miles."},
        ]
    },
    "one message fewer": {"messages": [{"role": "user", "content": "Convert 5 km to miles."}]},
    "two text parts": {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Convert 5 km "},
                    {"type": "text", "text": "to miles."},
                ],
            },
        ]
    },
    "temperature unset": {"params": {"max_tokens": 100}},
    "temperature": {"params": {"temperature": 0.5, "max_tokens": 100}},
    "max_tokens": {"params": {"temperature": 0, "max_tokens": 101}},
    "top_p": {"params": {"temperature": 0, "max_tokens": 100, "top_p": 0.9}},
    "stop": {"params": {"temperature": 0, "max_tokens": 100, "stop": ["."]}},
    "tools": {"tools": [{"name": "calc"}]},
    "tool_choice": {"tools": [{"name": "calc"}], "tool_choice": "required"},
    "response_format": {"response_format": {"type": "json_object"}},
    "accept_truncation": {"metadata": {"accept_truncation": "true"}},
    "tenant": {"tenant": "globex"},
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_any_field_that_changes_the_answer_changes_the_key(change: str) -> None:
    base = _request()
    changed = _request(**CHANGES[change])
    assert _exact(changed) != _exact(base)


def test_tool_variants_change_the_key() -> None:
    base = _request(tools=[{"name": "calc", "description": "adds"}])
    described = _request(tools=[{"name": "calc", "description": "multiplies"}])
    schema = _request(tools=[{"name": "calc", "description": "adds", "parameters": SCHEMA}])
    assert len({_exact(base), _exact(described), _exact(schema)}) == 3


def test_the_target_is_part_of_the_key(config: GatewayConfig) -> None:
    request = _request()
    default, code = target_of(config, "default"), target_of(config, "code")
    pinned = target_of(config, "model:small")
    assert default == "default=small:a/s,big:b/b"
    assert code == "code=big:b/b,small:a/s"  # the repeated fallback counted once
    assert pinned == "model:small=small:a/s"
    assert len({_exact(request, t) for t in (default, code, pinned)}) == 3
    moved = config.model_copy(
        update={
            "models": {
                **config.models,
                "small": config.models["small"].model_copy(update={"upstream": "s-2"}),
            }
        }
    )
    assert target_of(moved, "default") != default
    with pytest.raises(KeyError, match="nope"):
        target_of(config, "nope")


def test_tenants_are_isolated_unless_the_route_shares() -> None:
    acme, globex = _request(), _request(tenant="globex", request_id="r2")
    private = CacheConfig()
    shared = CacheConfig(share_across_tenants=True)
    assert cache_keys(acme, private, TARGET).exact != cache_keys(globex, private, TARGET).exact
    assert cache_keys(acme, private, TARGET).scope != cache_keys(globex, private, TARGET).scope
    assert cache_keys(acme, shared, TARGET) == cache_keys(globex, shared, TARGET)
    # A shared key is not any tenant's private key.
    assert cache_keys(acme, shared, TARGET).exact != cache_keys(acme, private, TARGET).exact


def test_partition_key_is_the_exact_key_or_the_scope() -> None:
    a = _request()
    b = _request(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "How far is 5 km in miles?"},
        ]
    )
    exact, semantic = CacheConfig(), CacheConfig(mode="semantic")
    ka, kb = cache_keys(a, exact, TARGET), cache_keys(b, exact, TARGET)
    assert ka.partition == ka.exact and ka.partition != kb.partition
    sa, sb = cache_keys(a, semantic, TARGET), cache_keys(b, semantic, TARGET)
    assert sa.partition == sa.scope == sb.partition  # near neighbours share a partition
    assert sa.exact != sb.exact


def test_keys_are_sha256_hex() -> None:
    scope = scope_key(_request(), TARGET, "acme")
    key = exact_key(_request(), scope)
    assert len(scope) == len(key) == 64
    assert int(scope, 16) >= 0 and int(key, 16) >= 0


# -- cacheability ----------------------------------------------------------------------


def _verdict(cache: CacheConfig | None = None, **over: Any) -> Cacheable | NotCacheable:
    return cacheability(_request(**over), CacheConfig() if cache is None else cache)


def _reason(verdict: Cacheable | NotCacheable) -> str:
    assert isinstance(verdict, NotCacheable), verdict
    return verdict.reason


def test_temperature_zero_is_cacheable() -> None:
    assert _verdict() == Cacheable(opted_in=False)


def test_no_cache_section_means_no_cache_even_when_asked() -> None:
    request = _request(metadata={"cache": "on"})
    assert _reason(cacheability(request, None)) == "not_configured"


@pytest.mark.parametrize("params", [{"temperature": 0.7}, {}])
def test_sampled_or_unset_temperature_is_not_cacheable_by_default(params: dict[str, Any]) -> None:
    verdict = _verdict(params=params)
    assert _reason(verdict) == "nondeterministic"
    assert isinstance(verdict, NotCacheable) and "metadata.cache" in verdict.detail


def test_unset_temperature_counts_as_zero_where_the_route_says_so() -> None:
    route = CacheConfig(unset_temperature_deterministic=True)
    assert _verdict(route, params={}) == Cacheable()
    assert _reason(_verdict(route, params={"temperature": 0.2})) == "nondeterministic"


def test_a_route_without_deterministic_only_caches_any_temperature() -> None:
    route = CacheConfig(deterministic_only=False)
    assert _verdict(route, params={"temperature": 1.3}) == Cacheable(opted_in=False)
    assert _verdict(route, params={}) == Cacheable(opted_in=False)


def test_opt_in_lifts_the_deterministic_rule_only() -> None:
    on = {"cache": "on"}
    assert _verdict(params={"temperature": 0.7}, metadata=on) == Cacheable(opted_in=True)
    assert _verdict(metadata=on) == Cacheable(opted_in=False)  # it would have been cached
    image = [
        {"role": "user", "content": [{"type": "image", "media_type": "image/png", "data": PNG}]}
    ]
    assert _reason(_verdict(messages=image, metadata=on)) == "images"
    assert _reason(_verdict(stream=True, metadata=on)) == "streamed"


def test_opt_out_wins_over_everything() -> None:
    route = CacheConfig(deterministic_only=False)
    assert _reason(_verdict(route, metadata={"cache": "off"})) == "opted_out"


def test_an_unknown_opt_value_names_the_field() -> None:
    verdict = _verdict(metadata={"cache": "yes"})
    assert _reason(verdict) == "invalid_opt"
    assert isinstance(verdict, NotCacheable) and "metadata.cache" in verdict.detail
    assert "'yes'" in verdict.detail


def test_streamed_requests_are_not_cached() -> None:
    assert _reason(_verdict(stream=True)) == "streamed"


def test_images_only_where_the_route_allows() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "media_type": "image/png", "data": PNG},
            ],
        }
    ]
    assert _reason(_verdict(messages=messages)) == "images"
    assert _verdict(CacheConfig(allow_images=True), messages=messages) == Cacheable()


TOOL_TURN = [
    {"role": "user", "content": "Weather in Oslo?"},
    {"role": "assistant", "tool_calls": [{"id": "c1", "name": "w", "arguments": {"c": "Oslo"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "-3C"},
]


def test_tool_results_only_where_the_route_allows() -> None:
    tools = [{"name": "w"}]
    assert _reason(_verdict(messages=TOOL_TURN, tools=tools)) == "tool_results"
    route = CacheConfig(allow_tool_results=True)
    assert _verdict(route, messages=TOOL_TURN, tools=tools) == Cacheable()
    # Declaring tools is not a tool result: the first turn of a tool conversation caches.
    assert _verdict(messages=TOOL_TURN[:1], tools=tools) == Cacheable()


def test_semantic_prompt_is_the_last_user_text_and_earlier_turns_join_the_scope() -> None:
    semantic = CacheConfig(mode="semantic")
    system = {"role": "system", "content": "Answer briefly."}
    a = _request(messages=[system, {"role": "user", "content": "Convert 5 km to miles"}])
    b = _request(messages=[system, {"role": "user", "content": "5 km in miles?"}])
    other_system = {"role": "system", "content": "Answer at length."}
    c = _request(messages=[other_system, {"role": "user", "content": "5 km in miles?"}])
    ka, kb, kc = (cache_keys(r, semantic, TARGET) for r in (a, b, c))
    assert ka.prompt == "Convert 5 km to miles" and kb.prompt == "5 km in miles?"
    assert ka.scope == kb.scope and ka.partition == ka.scope
    assert kc.scope != kb.scope  # another system prompt: never a neighbour


def test_a_semantic_route_caches_exactly_what_does_not_end_in_user_text() -> None:
    semantic = CacheConfig(mode="semantic")
    ending = _request(
        messages=[
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
        ]
    )
    keys = cache_keys(ending, semantic, TARGET)
    assert keys.prompt == "" and keys.partition == keys.exact
