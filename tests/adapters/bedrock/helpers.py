"""Keys, a reply body and a stubbed transport shared by the Bedrock adapter tests."""

from typing import Any

import httpx
import orjson

from adapters.bedrock.adapter import BedrockAdapter
from adapters.credentials import AwsKeys, Credentials
from schemas.providers import BedrockProvider
from tests.adapters.helpers import TIMEOUT_S, ask, mock_client, user
from tests.emulated import WEATHER

__all__ = ["CLAUDE", "KEYS", "OK_BODY", "PNG", "TIMEOUT_S", "WEATHER", "ask", "mocked", "user"]

KEYS = AwsKeys("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")
CLAUDE = "anthropic.claude-3-5-haiku-20241022-v1:0"
# A 1x1 PNG, base64.
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
    "RU5ErkJggg=="
)
OK_BODY: dict[str, Any] = {
    "output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4},
    "metrics": {"latencyMs": 12},
}


def mocked(status: int, body: object, headers: dict[str, str] | None = None) -> BedrockAdapter:
    """An adapter whose every call to model CLAUDE gets this reply."""

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"/model/{CLAUDE}/converse"
        return httpx.Response(status, content=orjson.dumps(body), headers=headers)

    config = BedrockProvider(format="bedrock", base_url="http://mock.test", region="us-east-1")
    return BedrockAdapter("mock", config, mock_client(handle), Credentials(aws=KEYS))
