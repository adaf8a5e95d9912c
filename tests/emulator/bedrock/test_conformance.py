"""The Bedrock emulator's replies and our adapter's requests, checked against botocore.

botocore's service model for ``bedrock-runtime`` is AWS's own type model of the
Converse API: requests are validated with its ParamValidator and walked member by
member (ParamValidator takes blobs as bytes, the JSON wire as base64), and replies are
walked against the output shape and parsed by botocore's own rest-json parser.
"""

import asyncio
import base64
import binascii
from typing import Any

import botocore.session
import httpx
import orjson
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from botocore.validate import ParamValidator

from adapters.base import ProviderRequest
from adapters.bedrock.sigv4 import SigV4Signer
from adapters.credentials import AwsKeys, Credentials
from emulator.profile import EmulatorConfig
from emulator.server import RunningEmulator
from schemas.chat import (
    ChatMessage,
    GenerationParams,
    ImagePart,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolSpec,
)
from schemas.providers import BedrockProvider
from tests.emulated import StartEmulator, complete_capturing, faulty

OPERATION = (
    botocore.session.get_session().get_service_model("bedrock-runtime").operation_model("Converse")
)
ERROR_SHAPES = {shape.name: shape for shape in OPERATION.error_shapes}
KEYS = AwsKeys("AKIDEXAMPLE", "test-secret", None)
REGION = "us-east-1"
MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake image bytes").decode()
BODY: dict[str, Any] = {
    "system": [{"text": "be brief"}],
    "messages": [{"role": "user", "content": [{"text": "what is the capital of Portugal"}]}],
    "inferenceConfig": {"maxTokens": 50},
}


def shape_errors(value: Any, shape: Any, path: str = "") -> list[str]:
    """Every place ``value`` (JSON as on the wire) departs from ``shape``."""
    kind = shape.type_name
    if kind == "structure":
        if shape.metadata.get("document"):
            return []
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        errors = [f"{path}.{k}: unknown member" for k in value if k not in shape.members]
        errors += [f"{path}.{k}: required" for k in shape.required_members if k not in value]
        if shape.metadata.get("union") and len(value) != 1:
            errors.append(f"{path}: a union needs exactly one member, got {sorted(value)}")
        for key, item in value.items():
            if key in shape.members:
                errors += shape_errors(item, shape.members[key], f"{path}.{key}")
        return errors
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        return [
            e for i, v in enumerate(value) for e in shape_errors(v, shape.member, f"{path}.{i}")
        ]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        return [e for k, v in value.items() for e in shape_errors(v, shape.value, f"{path}.{k}")]
    if kind == "blob":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError):
            return [f"{path}: not base64"]
        return []
    expected = {"string": str, "boolean": bool, "integer": int, "long": int}.get(kind, object)
    if kind in {"float", "double"}:
        expected = (int, float)  # type: ignore[assignment]
    if not isinstance(value, expected):
        return [f"{path}: not a {kind}"]
    enum = getattr(shape, "enum", None)
    if enum and value not in enum:
        return [f"{path}: {value!r} not in {enum}"]
    return []


def body_shape_errors(body: dict[str, Any]) -> list[str]:
    shape = OPERATION.input_shape
    # modelId is bound to the URI; only the other members travel in the JSON body.
    in_body = {n for n, m in shape.members.items() if "location" not in m.serialization}
    errors = [f".{k}: not a body member" for k in body if k not in in_body]
    errors += [f".{k}: required" for k in shape.required_members if k in in_body - set(body)]
    for key, value in body.items():
        if key in in_body:
            errors += shape_errors(value, shape.members[key], f".{key}")
    return errors


def decode_blobs(value: Any) -> Any:
    """The body as botocore's callers pass it: image bytes as bytes, not base64."""
    if isinstance(value, list):
        return [decode_blobs(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"bytes"} and isinstance(value["bytes"], str):
            return {"bytes": base64.b64decode(value["bytes"])}
        return {k: decode_blobs(v) for k, v in value.items()}
    return value


def parse_reply(response: httpx.Response, shape: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = create_parser("rest-json").parse(
        {
            "status_code": response.status_code,
            "headers": dict(response.headers),
            "body": response.content,
        },
        shape,
    )
    return parsed


async def post_signed(
    http: httpx.AsyncClient,
    emulator: RunningEmulator,
    body: dict[str, Any],
    *,
    service: str = "bedrock",
    model: str = "claude-emu",
) -> httpx.Response:
    url = f"{emulator.base_url}/model/{model}/converse"
    content = orjson.dumps(body)
    signer = SigV4Signer(KEYS, service=service, region=REGION)
    headers = signer.sign(url, content, {"content-type": "application/json"})
    return await http.post(url, content=content, headers=headers)


# Our adapter's requests


async def test_adapter_request_matches_the_converse_input_shape(
    start_emulator: StartEmulator,
) -> None:
    emulator = await start_emulator()
    config = BedrockProvider(format="bedrock", base_url=emulator.base_url, region=REGION)
    tool = ToolSpec(name="lookup", description="find", parameters={"type": "object"})
    call = ToolCall(id="call_1", name="lookup", arguments={"q": "x"})
    schema = {"type": "object", "properties": {"capital": {"type": "string"}}}
    request = ProviderRequest(
        upstream_model=MODEL,
        messages=[
            ChatMessage(role="system", content="be brief"),
            ChatMessage(
                role="user",
                content=[TextPart(text="hi"), ImagePart(media_type="image/jpeg", data=PNG)],
            ),
            ChatMessage(role="assistant", content="let me look", tool_calls=[call]),
            ChatMessage(role="tool", tool_call_id="call_1", content="Lisbon"),
            ChatMessage(role="assistant", content="Lisbon."),
            ChatMessage(role="user", content="and as JSON?"),
        ],
        params=GenerationParams(max_tokens=20, temperature=0.5, top_p=0.9, stop=["END"]),
        tools=[tool],
        tool_choice="required",
        response_format=ResponseFormat(type="json_schema", json_schema=schema),
    )
    # The emulator validates against the same model, so success is itself a check.
    _, [sent] = await complete_capturing(config, Credentials(aws=KEYS), request)
    body = orjson.loads(sent.content)
    assert body_shape_errors(body) == []
    report = ParamValidator().validate(
        {"modelId": MODEL, **decode_blobs(body)}, OPERATION.input_shape
    )
    assert not report.has_errors(), report.generate_report()
    assert set(body) == {"messages", "system", "inferenceConfig", "toolConfig", "outputConfig"}


def test_the_checks_catch_invented_members() -> None:
    # Both checks must be able to fail, or passing them says nothing.
    bad = {**BODY, "inferenceConfig": {"max_tokens": 5}, "model": MODEL}
    assert body_shape_errors(bad) == [
        ".model: not a body member",
        ".inferenceConfig.max_tokens: unknown member",
    ]
    report = ParamValidator().validate({"modelId": MODEL, **bad}, OPERATION.input_shape)
    assert report.has_errors()
    two_kinds = {"role": "user", "content": [{"text": "a", "image": {}}]}
    assert any("union" in e for e in body_shape_errors({"messages": [two_kinds]}))


# The emulator's replies


async def test_text_reply_matches_the_output_shape(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator()
    response = await post_signed(http, emulator, BODY)
    assert response.status_code == 200
    data = response.json()
    assert shape_errors(data, OPERATION.output_shape) == []
    parsed = parse_reply(response, OPERATION.output_shape)
    assert parsed["ResponseMetadata"]["RequestId"] == response.headers["x-amzn-RequestId"]
    assert parsed["stopReason"] == "end_turn"
    assert parsed["output"]["message"]["content"][0]["text"]
    usage = parsed["usage"]
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert "cacheReadInputTokens" not in usage


async def test_tool_and_cached_replies_match_the_output_shape(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator()
    tools = {
        "tools": [
            {
                "toolSpec": {
                    "name": "lookup",
                    "inputSchema": {"json": {"type": "object", "properties": {"q": {}}}},
                }
            }
        ],
        "toolChoice": {"tool": {"name": "lookup"}},
    }
    tool_reply = await post_signed(http, emulator, {**BODY, "toolConfig": tools})
    data = tool_reply.json()
    assert shape_errors(data, OPERATION.output_shape) == []
    assert data["stopReason"] == "tool_use"
    [block] = data["output"]["message"]["content"]
    assert block["toolUse"]["name"] == "lookup"

    long_body = {
        "messages": [{"role": "user", "content": [{"text": "shared preamble " * 400}]}],
    }
    await post_signed(http, emulator, long_body)
    cached = (await post_signed(http, emulator, long_body)).json()
    assert shape_errors(cached, OPERATION.output_shape) == []
    usage = cached["usage"]
    assert usage["cacheReadInputTokens"] > 0
    assert usage["totalTokens"] == (
        usage["inputTokens"] + usage["cacheReadInputTokens"] + usage["outputTokens"]
    )


async def test_filtered_reply_is_a_guardrail_intervention(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator(faulty(content_filter_rate=1.0))
    response = await post_signed(http, emulator, BODY)
    assert response.status_code == 200
    assert shape_errors(response.json(), OPERATION.output_shape) == []
    assert parse_reply(response, OPERATION.output_shape)["stopReason"] == "guardrail_intervened"


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (429, 429, "ThrottlingException"),
        (500, 500, "InternalServerException"),
        (502, 502, "ServiceUnavailableException"),
        (503, 503, "ServiceUnavailableException"),
        (504, 504, "ModelTimeoutException"),
        # AWS has no 529: the emulator answers Bedrock's overload, a 503.
        (529, 503, "ServiceUnavailableException"),
    ],
)
async def test_fault_errors_are_converse_errors(
    start_emulator: StartEmulator, http: httpx.AsyncClient, fault: int, status: int, code: str
) -> None:
    emulator = await start_emulator(faulty(error_rates={fault: 1.0}))
    response = await post_signed(http, emulator, BODY)
    assert response.status_code == status
    parsed = parse_reply(response, OPERATION.output_shape)
    assert parsed["Error"]["Code"] == code
    assert parsed["Error"]["Message"]
    # The header names the error, as Bedrock's does; the body is the exception's shape.
    assert response.headers["x-amzn-ErrorType"] == f"{code}:{ERROR_NAMESPACE}"
    assert shape_errors(response.json(), ERROR_SHAPES[code]) == []
    assert ("retry-after" in response.headers) == (status == 429)


async def test_context_window_is_a_validation_exception(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator(faulty(context_window=8))
    long_body = {"messages": [{"role": "user", "content": [{"text": "word " * 40}]}]}
    response = await post_signed(http, emulator, long_body)
    assert (
        response.status_code
        == ERROR_SHAPES["ValidationException"].metadata["error"]["httpStatusCode"]
    )
    error = parse_reply(response, OPERATION.output_shape)["Error"]
    assert error == {
        "Code": "ValidationException",
        "Message": "Input is too long for requested model.",
    }


def user_turn(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": list(blocks)}]}


TOOL_RESULT = {"toolResult": {"toolUseId": "a", "content": [{"text": "x"}]}}
BAD_IMAGE = {"image": {"format": "png", "source": {"bytes": "%%"}}}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({**BODY, "temperature": 0.5}, "temperature"),
        ({**BODY, "inferenceConfig": {"max_tokens": 5}}, "inferenceConfig.max_tokens"),
        ({**BODY, "inferenceConfig": {"temperature": 1.5}}, "less than or equal to 1"),
        ({"messages": [{"role": "assistant", "content": [{"text": "hi"}]}]}, "start with a user"),
        ({"messages": BODY["messages"] * 2}, "alternate"),
        (user_turn({"text": "  "}), "blank"),
        (user_turn(TOOL_RESULT), "toolConfig"),
        (user_turn(BAD_IMAGE), "base64"),
    ],
)
async def test_invalid_bodies_are_validation_exceptions(
    start_emulator: StartEmulator, http: httpx.AsyncClient, body: dict[str, Any], problem: str
) -> None:
    emulator = await start_emulator()
    response = await post_signed(http, emulator, body)
    assert response.status_code == 400
    error = parse_reply(response, OPERATION.output_shape)["Error"]
    assert error["Code"] == "ValidationException"
    assert problem in error["Message"]


async def test_requests_must_be_sigv4_signed_for_bedrock(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator()
    url = f"{emulator.base_url}/model/claude-emu/converse"
    cases: list[tuple[httpx.Response, str]] = [
        (await http.post(url, json=BODY), "MissingAuthenticationTokenException"),
        (
            await http.post(url, json=BODY, headers={"authorization": "Bearer k"}),
            "IncompleteSignatureException",
        ),
        (await post_signed(http, emulator, BODY, service="s3"), "InvalidSignatureException"),
    ]
    for response, code in cases:
        assert response.status_code == 403
        assert response.headers["x-amzn-ErrorType"] == f"{code}:{ERROR_NAMESPACE}"
        assert set(response.json()) == {"message"}
        assert parse_reply(response, OPERATION.output_shape)["Error"]["Code"] == code


async def test_botocore_client_round_trip(start_emulator: StartEmulator) -> None:
    emulator = await start_emulator(
        EmulatorConfig(models={"busy": faulty(error_rates={429: 1.0}).default})
    )
    client = botocore.session.get_session().create_client(
        "bedrock-runtime",
        region_name=REGION,
        endpoint_url=emulator.base_url,
        aws_access_key_id=KEYS.access_key,
        aws_secret_access_key=KEYS.secret_key,
        config=Config(retries={"total_max_attempts": 1}),
    )
    # botocore is synchronous and the emulator runs on this loop: call from a thread.
    reply = await asyncio.to_thread(
        client.converse,
        modelId=MODEL,
        system=[{"text": "be brief"}],
        messages=[{"role": "user", "content": [{"text": "name three rivers"}]}],
        inferenceConfig={"maxTokens": 4, "stopSequences": ["zzz"]},
    )
    assert reply["stopReason"] == "max_tokens"
    assert reply["usage"]["outputTokens"] == 4
    assert reply["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as caught:
        await asyncio.to_thread(
            client.converse,
            modelId="busy",
            messages=[{"role": "user", "content": [{"text": "hello"}]}],
        )
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    assert isinstance(caught.value, client.exceptions.ThrottlingException)
    client.close()
