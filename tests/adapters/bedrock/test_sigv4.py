"""SigV4 as received: what AWS would recompute from the request that reached it.

The Bedrock adapter's requests go through the real HTTP stack to a bare aiohttp server,
so a path or body rewritten after signing (aiohttp's URL type decodes "%3A", for one)
shows up as a signature mismatch here.
"""

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from adapters.bedrock.adapter import BedrockAdapter
from adapters.bedrock.sigv4 import SigV4Signer
from adapters.credentials import AwsKeys, Credentials
from schemas.providers import BedrockProvider
from tests.adapters.bedrock.helpers import CLAUDE, KEYS, OK_BODY, TIMEOUT_S, ask, user


@dataclass
class Captured:
    raw_path: str = ""
    match_model: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@pytest.fixture
async def capture_server() -> AsyncIterator[tuple[str, Captured]]:
    """A bare aiohttp server recording the request exactly as it arrived."""
    captured = Captured()

    async def handle(request: web.Request) -> web.Response:
        captured.raw_path = request.raw_path
        captured.match_model = request.match_info["model"]
        captured.headers = {k.lower(): v for k, v in request.headers.items()}
        captured.body = await request.read()
        return web.json_response(OK_BODY, headers={"x-amzn-RequestId": "abc-123"})

    app = web.Application()
    app.router.add_post("/model/{model}/converse", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", captured
    await runner.cleanup()


_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[^,]+), Signature=(?P<sig>\w+)"
)


def recomputed_signature(captured: Captured, body: bytes) -> str:
    """What AWS computes from the request it received, using the known secret."""
    auth = _AUTH.fullmatch(captured.headers["authorization"])
    assert auth is not None
    request = AWSRequest(
        method="POST",
        url=f"http://{captured.headers['host']}{captured.raw_path}",
        data=body,
        headers={h: captured.headers[h] for h in auth["signed"].split(";")},
    )
    request.context["timestamp"] = captured.headers["x-amz-date"]
    signer = SigV4Auth(
        BotoCredentials(auth["key"], KEYS.secret_key, KEYS.session_token),
        auth["service"],
        auth["region"],
    )
    canonical = signer.canonical_request(request)
    return str(signer.signature(signer.string_to_sign(request, canonical), request))


@pytest.mark.parametrize(
    "model",
    [CLAUDE, "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.amazon.nova-lite-v1:0"],
)
async def test_signature_covers_the_bytes_and_path_received(
    capture_server: tuple[str, Captured], http_client: httpx.AsyncClient, model: str
) -> None:
    url, captured = capture_server
    config = BedrockProvider(format="bedrock", base_url=url, region="eu-west-1")
    adapter = BedrockAdapter("bedrock", config, http_client, Credentials(aws=KEYS))
    result = await adapter.complete(ask(user("hi"), model=model), timeout_s=TIMEOUT_S)
    assert result.provider_request_id == "abc-123"

    assert captured.match_model == model
    auth = _AUTH.fullmatch(captured.headers["authorization"])
    assert auth is not None
    assert (auth["key"], auth["region"], auth["service"]) == (
        "AKIDEXAMPLE",
        "eu-west-1",
        "bedrock",
    )
    assert {"host", "x-amz-date", "x-amz-security-token", "content-type"} <= set(
        auth["signed"].split(";")
    )
    assert captured.headers["x-amz-security-token"] == "session-token"
    assert recomputed_signature(captured, captured.body) == auth["sig"]
    # The check is not vacuous: one changed byte breaks it.
    assert recomputed_signature(captured, captured.body + b" ") != auth["sig"]


def test_signer_adds_only_the_auth_headers() -> None:
    signer = SigV4Signer(AwsKeys("AKID", "secret"), service="bedrock", region="us-east-1")
    url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse"
    headers = signer.sign(url, b"{}", {"content-type": "application/json", "x-custom": "1"})
    assert set(headers) == {"content-type", "x-custom", "X-Amz-Date", "Authorization"}
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKID/")
    assert "/us-east-1/bedrock/aws4_request" in headers["Authorization"]
