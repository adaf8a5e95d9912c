from collections.abc import Callable

import pytest

from schemas.config import GatewayConfig
from schemas.config_loader import parse_config
from schemas.events import LLMRequest

CONFIG = """
providers:
  a: {format: openai, base_url: "http://127.0.0.1:1/v1"}
  b: {format: anthropic, base_url: "http://127.0.0.1:2"}
models:
  small: {provider: a, upstream: s, input_per_mtok: "0.15", output_per_mtok: "0.60",
          context_window: 1000}
  big: {provider: b, upstream: b, input_per_mtok: "3", output_per_mtok: "15",
        context_window: 200000}
routes:
  - name: code
    when: {task_types: [code]}
    primary: big
    fallbacks: [small, big]
  - name: vip
    when: {tenants: [vip]}
    primary: big
  - name: default
    when: {max_complexity: 0.5}
    primary: small
    fallbacks: [big]
    retry: {max_attempts: 4, same_model_retries: 1, backoff_initial_s: 0.5,
            max_retry_after_s: 10}
"""


@pytest.fixture
def config() -> GatewayConfig:
    return parse_config(CONFIG)


@pytest.fixture
def make_request() -> Callable[..., LLMRequest]:
    def make(text: str, **over: object) -> LLMRequest:
        data: dict[str, object] = {
            "request_id": "r1",
            "tenant": "acme",
            "messages": [{"role": "user", "content": text}],
        }
        data.update(over)
        return LLMRequest.model_validate(data)

    return make
