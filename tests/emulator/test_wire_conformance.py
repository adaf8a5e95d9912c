"""The emulator's replies and our adapters' requests, checked against the official SDKs."""

from typing import Any

import httpx
import orjson
import pytest
from anthropic.types import AssistantMessageParam, UserMessageParam
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
from anthropic.types.shared import ErrorResponse
from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionUserMessageParam,
)
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming
from openai.types.shared import ErrorObject

from adapters.anthropic.adapter import CAPABILITIES as ANTHROPIC_CAPABILITIES
from adapters.base import ProviderRequest
from adapters.capabilities import Capabilities
from adapters.credentials import Credentials
from adapters.openai.presets import PRESETS
from schemas.events import ChatMessage, GenerationParams
from schemas.providers import WireFormat
from tests.emulated import StartEmulator, complete_capturing, faulty, provider_config

OPENAI_AUTH = {"authorization": "Bearer test-key"}
ANTHROPIC_AUTH = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}
OPENAI_BODY: dict[str, Any] = {
    "model": "gpt-emu",
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "what is the capital of Portugal"},
    ],
    "max_tokens": 50,
}
ANTHROPIC_BODY: dict[str, Any] = {
    "model": "claude-emu",
    "max_tokens": 50,
    "system": "be brief",
    "messages": [{"role": "user", "content": "what is the capital of Portugal"}],
}


def assert_known_keys(data: dict[str, Any], typed_dict: type) -> None:
    allowed = set(typed_dict.__annotations__)
    assert set(data) <= allowed, set(data) - allowed


@pytest.mark.parametrize(
    ("path", "headers", "body", "status", "error_type"),
    [
        ("/v1/chat/completions", {}, OPENAI_BODY, 401, "invalid_request_error"),
        ("/v1/messages", {"anthropic-version": "2023-06-01"}, ANTHROPIC_BODY, 401,
         "authentication_error"),
        ("/v1/chat/completions", OPENAI_AUTH, {**OPENAI_BODY, "max_tokenz": 5}, 400,
         "invalid_request_error"),
        ("/v1/messages", ANTHROPIC_AUTH, {**ANTHROPIC_BODY, "temperature": 0.5}, 400,
         "invalid_request_error"),
        ("/v1/messages", ANTHROPIC_AUTH, {k: v for k, v in ANTHROPIC_BODY.items()
                                          if k != "max_tokens"}, 400, "invalid_request_error"),
        ("/v1/messages", {"x-api-key": "k"}, ANTHROPIC_BODY, 400, "invalid_request_error"),
    ],
)  # fmt: skip
async def test_rejections_use_vendor_error_shapes(
    start_emulator: StartEmulator,
    http: httpx.AsyncClient,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any],
    status: int,
    error_type: str,
) -> None:
    emulator = await start_emulator()
    response = await http.post(f"{emulator.base_url}{path}", json=body, headers=headers)
    assert response.status_code == status
    data = response.json()
    if path == "/v1/messages":
        assert ErrorResponse.model_validate(data).error.type == error_type
    else:
        assert ErrorObject.model_validate(data["error"]).type == error_type


async def test_context_window_errors_match_vendors(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator(faulty(context_window=8))
    long_text = "word " * 40
    openai_reply = await http.post(
        f"{emulator.base_url}/v1/chat/completions",
        json={**OPENAI_BODY, "messages": [{"role": "user", "content": long_text}]},
        headers=OPENAI_AUTH,
    )
    error = ErrorObject.model_validate(openai_reply.json()["error"])
    assert (openai_reply.status_code, error.code) == (400, "context_length_exceeded")
    anthropic_reply = await http.post(
        f"{emulator.base_url}/v1/messages",
        json={**ANTHROPIC_BODY, "messages": [{"role": "user", "content": long_text}]},
        headers=ANTHROPIC_AUTH,
    )
    parsed = ErrorResponse.model_validate(anthropic_reply.json())
    assert anthropic_reply.status_code == 400
    assert parsed.error.type == "invalid_request_error"
    assert parsed.error.message.startswith("prompt is too long")


OPENAI_MESSAGE_PARAMS: dict[str, type] = {
    "system": ChatCompletionSystemMessageParam,
    "user": ChatCompletionUserMessageParam,
    "assistant": ChatCompletionAssistantMessageParam,
}
CAPABILITIES: dict[str, Capabilities] = {
    "openai": PRESETS["openai"].capabilities,
    "anthropic": ANTHROPIC_CAPABILITIES,
}
ANTHROPIC_MESSAGE_PARAMS: dict[str, type] = {
    "user": UserMessageParam,
    "assistant": AssistantMessageParam,
}


@pytest.mark.parametrize("fmt", ["openai", "anthropic"])
async def test_adapter_requests_use_only_sdk_fields(
    start_emulator: StartEmulator, fmt: WireFormat
) -> None:
    emulator = await start_emulator()
    base_url = f"{emulator.base_url}/v1" if fmt == "openai" else emulator.base_url
    config = provider_config(format=fmt, base_url=base_url)
    # Sampling parameters only where the format carries them: Anthropic's has none.
    sampling = {"temperature": 0.5, "top_p": 0.9}
    params = GenerationParams(
        max_tokens=20,
        stop=["END"],
        **{name: value for name, value in sampling.items() if name in CAPABILITIES[fmt]},
    )
    request = ProviderRequest(
        upstream_model="m",
        messages=[
            ChatMessage(role="system", content="be brief"),
            ChatMessage(role="user", content="hi"),
            ChatMessage(role="assistant", content="hello"),
            ChatMessage(role="user", content="and now?"),
        ],
        params=params,
    )
    # The emulator rejects unknown fields, so success is itself a check.
    _, [sent] = await complete_capturing(config, Credentials(api_key="k"), request)
    body = orjson.loads(sent.content)
    if fmt == "openai":
        assert_known_keys(body, CompletionCreateParamsNonStreaming)
        message_params = OPENAI_MESSAGE_PARAMS
    else:
        assert_known_keys(body, MessageCreateParamsNonStreaming)
        assert body["system"] == "be brief"
        message_params = ANTHROPIC_MESSAGE_PARAMS
    for message in body["messages"]:
        assert_known_keys(message, message_params[message["role"]])
    # The openai preset sends max_completion_tokens, which reasoning models require.
    max_field = "max_completion_tokens" if fmt == "openai" else "max_tokens"
    assert {"model", "messages", max_field} <= set(body)
    if fmt == "openai":
        assert {"temperature", "top_p", "stop"} <= set(body)
    else:
        assert body["stop_sequences"] == ["END"]
        assert not {"temperature", "top_p"} & set(body)
