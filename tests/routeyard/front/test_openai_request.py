"""Chat Completions request bodies, as the OpenAI SDK writes them, into LLMRequests."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx2
import pytest
from openai.types import ErrorObject
from openai.types.chat import ChatCompletionUserMessageParam
from openai.types.chat.completion_create_params import (
    CompletionCreateParamsNonStreaming,
    CompletionCreateParamsStreaming,
)

from routeyard.front.openai_errors import OpenAIError
from routeyard.front.openai_request import IGNORED, ParsedChat, to_llm_request
from routeyard.front.openai_response import completion_body
from schemas.chat import ImagePart, TextPart, ToolCall, ToolSpec
from tests.emulator.sdk_fields import params_errors
from tests.routeyard.front.openai_sdk import fits, response, sdk_client

MODELS = {"small-model", "big-model", "both"}
ROUTES = {"fast", "careful", "both"}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake pixels").decode()
USER: ChatCompletionUserMessageParam = {"role": "user", "content": "Hi"}


def parse(body: object) -> ParsedChat:
    return to_llm_request(
        body, request_id="ry-1", tenant="acme", known_models=MODELS, known_routes=ROUTES
    )


def refused(body: dict[str, Any]) -> OpenAIError:
    """The error ``body`` gets; the test body itself must be one the SDK's types allow
    (mistakes in values, not in shape), unless it is about an unknown field."""
    with pytest.raises(OpenAIError) as caught:
        parse(body)
    assert fits(caught.value.body()["error"], ErrorObject) == []
    return caught.value


def sdk_sent(**create: Any) -> tuple[dict[str, Any], ParsedChat]:
    """What the SDK puts on the wire for ``create(**create)``, and its translation; the
    reply is the translation answered, so the SDK call itself must succeed too."""
    seen: list[tuple[dict[str, Any], ParsedChat]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        parsed = parse(body)
        seen.append((body, parsed))
        return httpx2.Response(200, json=completion_body(response(), parsed.model_label))

    sdk_client(handler).chat.completions.create(**create)
    return seen[0]


def test_text_messages_and_generation_params_as_the_sdk_sends_them() -> None:
    _, parsed = sdk_sent(
        model="auto",
        messages=[
            {"role": "developer", "content": "Be brief."},
            {"role": "system", "content": [{"type": "text", "text": "Use metric units."}]},
            {"role": "user", "content": "How far is it?", "name": "ann"},
        ],
        max_completion_tokens=64,
        temperature=0.2,
        top_p=0.9,
        stop="END",
        user="user-7",
        metadata={"trace_id": "t-1"},
        seed=3,
        frequency_penalty=0.5,
        presence_penalty=0.1,
        logit_bias={"42": -100},
        parallel_tool_calls=False,
        service_tier="auto",
        store=False,
        n=1,
    )
    req = parsed.request
    assert [m.role for m in req.messages] == ["system", "system", "user"]
    assert req.messages[1].content == [TextPart(text="Use metric units.")]
    assert req.messages[2].content == "How far is it?"
    assert (req.params.max_tokens, req.params.temperature, req.params.top_p) == (64, 0.2, 0.9)
    assert req.params.stop == ["END"]
    assert req.metadata == {"trace_id": "t-1", "user": "user-7"}
    assert (req.route, req.model, req.request_id, req.tenant) == (None, None, "ry-1", "acme")
    assert (parsed.stream, parsed.include_usage, parsed.model_label) == (False, False, "auto")


def test_model_names_a_route_a_model_or_nothing() -> None:
    def routed(model: str) -> tuple[str | None, str | None]:
        req = parse({"model": model, "messages": [USER]}).request
        return req.route, req.model

    assert routed("auto") == (None, None)
    assert routed("fast") == ("fast", None)
    assert routed("big-model") == (None, "big-model")
    assert routed("both") == ("both", None)  # a route and a model of one name: the route
    err = refused({"model": "gpt-4o", "messages": [USER]})
    assert (err.status, err.param, err.code) == (404, "model", "model_not_found")
    assert "gpt-4o" in err.message


def test_images_inline_from_data_urls_and_by_reference_from_http_urls() -> None:
    _, parsed = sdk_sent(
        model="fast",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Compare these"},
                    {"type": "text", "text": ""},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://img.test/cat.webp?s=1", "detail": "low"},
                    },
                    {"type": "image_url", "image_url": {"url": f"data:image/jpg;base64,{PNG}"}},
                ],
            }
        ],
    )
    content = parsed.request.messages[0].content
    assert isinstance(content, list)
    text, inline, linked, jpg = content
    assert text == TextPart(text="Compare these")  # the empty text part is dropped
    assert inline == ImagePart(media_type="image/png", data=PNG)
    assert isinstance(linked, ImagePart) and str(linked.url) == "https://img.test/cat.webp?s=1"
    assert linked.media_type == "image/webp" and linked.data is None
    assert isinstance(jpg, ImagePart) and jpg.media_type == "image/jpeg"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"data:image/bmp;base64,{PNG}", "image/bmp"),
        ("data:image/png;base64,not*base64", "not base64"),
        (f"data:image/png,{PNG}", "base64"),
        ("ftp://img.test/cat.png", "http(s)"),
    ],
)
def test_a_bad_image_url_is_refused_naming_its_place(url: str, says: str) -> None:
    part = {"type": "image_url", "image_url": {"url": url}}
    body = {"model": "auto", "messages": [USER, {"role": "user", "content": [part]}]}
    assert params_errors(body, CompletionCreateParamsNonStreaming) == []
    err = refused(body)
    assert (err.status, err.param) == (400, "messages[1].content[0].image_url.url")
    assert says in err.message


def test_tools_and_a_conversation_with_tool_calls_and_results() -> None:
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather now",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": True,
        },
    }
    _, parsed = sdk_sent(
        model="careful",
        messages=[
            USER,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "-3C"},
        ],
        tools=[weather, {"type": "function", "function": {"name": "noop"}}],
        tool_choice="required",
    )
    req = parsed.request
    assert req.tools[0] == ToolSpec(
        name="get_weather",
        description="Weather now",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
    )
    assert req.tools[1] == ToolSpec(name="noop")
    assert req.tool_choice == "required"
    assert req.messages[1].tool_calls == [
        ToolCall(id="call_1", name="get_weather", arguments={"city": "Oslo"})
    ]
    assert (req.messages[2].role, req.messages[2].tool_call_id) == ("tool", "call_1")


def test_naming_the_only_tool_requires_it_and_naming_one_of_several_is_refused() -> None:
    def tool(name: str) -> dict[str, Any]:
        return {"type": "function", "function": {"name": name}}

    choice = {"type": "function", "function": {"name": "a"}}
    body: dict[str, Any] = {"model": "auto", "messages": [USER], "tools": [tool("a")]}
    assert parse(body | {"tool_choice": choice}).request.tool_choice == "required"
    assert parse(body | {"tool_choice": "none"}).request.tool_choice == "none"
    several = body | {"tools": [tool("a"), tool("b")], "tool_choice": choice}
    assert params_errors(several, CompletionCreateParamsNonStreaming) == []
    err = refused(several)
    assert (err.status, err.param, err.code) == (400, "tool_choice", "unsupported_parameter")
    err = refused({"model": "auto", "messages": [USER], "tool_choice": "required"})
    assert err.param == "tool_choice"


def test_response_formats() -> None:
    def fmt(rf: dict[str, Any]) -> Any:
        body = {"model": "auto", "messages": [USER], "response_format": rf}
        assert params_errors(body, CompletionCreateParamsNonStreaming) == []
        return parse(body).request.response_format

    assert fmt({"type": "text"}) is None
    assert fmt({"type": "json_object"}).type == "json_object"
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    rf = fmt(
        {"type": "json_schema", "json_schema": {"name": "count", "schema": schema, "strict": True}}
    )
    assert (rf.type, rf.name, rf.json_schema) == ("json_schema", "count", schema)
    err = refused(
        {
            "model": "auto",
            "messages": [USER],
            "response_format": {"type": "json_schema", "json_schema": {"name": "count"}},
        }
    )
    assert err.param == "response_format.json_schema.schema"


def test_streaming_flags() -> None:
    seen: list[ParsedChat] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(parse(json.loads(request.content)))
        return httpx2.Response(200, content=b"data: [DONE]\n\n")

    client = sdk_client(handler)
    list(
        client.chat.completions.create(
            model="fast", messages=[USER], stream=True, stream_options={"include_usage": True}
        )
    )
    list(client.chat.completions.create(model="fast", messages=[USER], stream=True))
    assert [(p.stream, p.include_usage, p.request.stream) for p in seen] == [
        (True, True, True),
        (True, False, True),
    ]
    body = {"model": "auto", "messages": [USER], "stream_options": {"include_usage": True}}
    assert refused(body).param == "stream_options"


def test_an_assistant_message_from_an_earlier_reply_goes_back_as_it_came() -> None:
    seen: list[ParsedChat] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(parse(json.loads(request.content)))
        answer = response(
            content="", tool_calls=[ToolCall(id="c1", name="f", arguments={"x": [1, 2]})]
        )
        return httpx2.Response(200, json=completion_body(answer, "auto"))

    client = sdk_client(handler)
    first = client.chat.completions.create(model="auto", messages=[USER])
    client.chat.completions.create(
        model="auto",
        messages=[
            USER,
            first.choices[0].message,  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        ],
    )
    again = seen[1].request.messages[1]
    assert again.tool_calls == [ToolCall(id="c1", name="f", arguments={"x": [1, 2]})]


@pytest.mark.parametrize("field", sorted(IGNORED))
def test_ignored_tuning_fields_are_accepted(field: str) -> None:
    value = {"logit_bias": {}, "prompt_cache_options": {}, "parallel_tool_calls": True}
    body = {"model": "auto", "messages": [USER], field: value.get(field, 1)}
    assert parse(body).request.messages[0].text == "Hi"


@pytest.mark.parametrize(
    ("extra", "param", "code"),
    [
        ({"n": 2}, "n", "unsupported_parameter"),
        ({"logprobs": True}, "logprobs", "unsupported_parameter"),
        ({"top_logprobs": 3}, "top_logprobs", "unsupported_parameter"),
        ({"modalities": ["text", "audio"]}, "modalities", "unsupported_parameter"),
        ({"functions": [{"name": "f"}]}, "functions", "unsupported_parameter"),
        ({"audio": {"voice": "alloy", "format": "mp3"}}, "audio", "unsupported_parameter"),
        ({"temperature": 3.0}, "temperature", "invalid_value"),
        ({"temperature": "hot"}, "temperature", "invalid_value"),
        ({"max_tokens": 10, "max_completion_tokens": 20}, "max_tokens", "invalid_value"),
        ({"max_completion_tokens": 0}, "max_completion_tokens", "invalid_value"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "invalid_value"),
        ({"messages": []}, "messages", "invalid_value"),
        (
            {"messages": [{"role": "function", "name": "f", "content": "x"}]},
            "messages[0].role",
            "unsupported_parameter",
        ),
    ],
)
def test_fields_that_cannot_be_honoured_are_refused_by_name(
    extra: dict[str, Any], param: str, code: str
) -> None:
    err = refused({"model": "auto", "messages": [USER], **extra})
    assert (err.status, err.param, err.code) == (400, param, code)


def test_values_the_sdk_types_would_not_allow() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"volume": 11}, "volume"),
        ({"n": True}, "n"),
        ({"model": None}, "model"),
        (
            {"messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "messages[0].content[0].type",
        ),
        (
            {
                "messages": [
                    {
                        "role": "system",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "https://i.test/a.png"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0].type",
        ),
        ({"messages": [{"role": "user", "content": "x", "colour": "red"}]}, "messages[0].colour"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"messages": [{"role": "assistant", "content": ""}]}, "messages[0]"),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "c",
                                "type": "function",
                                "function": {"name": "f", "arguments": "{oops"},
                            }
                        ],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
        ({"tools": [{"type": "custom", "custom": {"name": "g"}}]}, "tools[0].type"),
        ({"tools": [{"type": "function", "function": {"name": "bad name"}}]}, "tools[0].function"),
        (
            {"tools": [{"type": "function", "function": {"name": n}} for n in ("f", "g", "f")]},
            "tools[2].function.name",
        ),
    ]
    for extra, param in cases:
        err = refused({"model": "auto", "messages": [USER], **extra})
        assert (err.status, err.param) == (400, param), extra
    with pytest.raises(OpenAIError) as not_an_object:
        parse([USER])
    assert not_an_object.value.status == 400


def test_literal_bodies_in_these_tests_are_sdk_params() -> None:
    """The hand-written bodies above are shapes the SDK's own types accept."""
    body = {
        "model": "auto",
        "messages": [
            USER,
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "metadata": {"a": "b"},
    }
    assert params_errors(body, CompletionCreateParamsStreaming) == []
    parsed = parse(body)
    assert parsed.request.messages[1].text == "No."
