import orjson

from adapters.bedrock.payload import build_payload, converse_path
from schemas.chat import ChatMessage, ImagePart, ResponseFormat, TextPart, ToolCall, ToolSpec
from tests.adapters.bedrock.helpers import CLAUDE, PNG, WEATHER, ask, user


def test_model_path_encoding() -> None:
    assert converse_path(CLAUDE) == f"/model/{CLAUDE}/converse"
    assert converse_path("arn:aws:bedrock:x:1:inference-profile/eu.m") == (
        "/model/arn:aws:bedrock:x:1:inference-profile%2Feu.m/converse"
    )


def test_payload_maps_system_params_and_tool_choice() -> None:
    request = ask(
        ChatMessage(role="system", content="sys one"),
        user("hi"),
        ChatMessage(role="system", content="sys two"),
        tools=[WEATHER, ToolSpec(name="noop")],
        tool_choice="required",
        params={"max_tokens": 9, "temperature": 0.2, "top_p": 0.8, "stop": ["END"]},
    )
    assert build_payload(request) == {
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "system": [{"text": "sys one"}, {"text": "sys two"}],
        "inferenceConfig": {
            "maxTokens": 9,
            "temperature": 0.2,
            "topP": 0.8,
            "stopSequences": ["END"],
        },
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": "get_weather",
                        "inputSchema": {"json": WEATHER.parameters},
                        "description": "current weather",
                    }
                },
                # No description: Converse rejects an empty one.
                {
                    "toolSpec": {
                        "name": "noop",
                        "inputSchema": {"json": ToolSpec(name="n").parameters},
                    }
                },
            ],
            "toolChoice": {"any": {}},
        },
    }
    assert build_payload(ask(user("hi"))) == {
        "messages": [{"role": "user", "content": [{"text": "hi"}]}]
    }


def test_payload_merges_tool_results_into_one_user_turn() -> None:
    calls = [ToolCall(id="a", name="get_weather"), ToolCall(id="b", name="get_weather")]
    request = ask(
        user("both cities"),
        ChatMessage(role="assistant", content="checking", tool_calls=calls),
        ChatMessage(role="tool", tool_call_id="a", content="rain"),
        ChatMessage(role="tool", tool_call_id="b", content=[TextPart(text="sun")]),
        user("and tomorrow?"),
        tools=[WEATHER],
    )
    assert build_payload(request)["messages"] == [
        {"role": "user", "content": [{"text": "both cities"}]},
        {
            "role": "assistant",
            "content": [
                {"text": "checking"},
                {"toolUse": {"toolUseId": "a", "name": "get_weather", "input": {}}},
                {"toolUse": {"toolUseId": "b", "name": "get_weather", "input": {}}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "a", "content": [{"text": "rain"}]}},
                {"toolResult": {"toolUseId": "b", "content": [{"text": "sun"}]}},
                {"text": "and tomorrow?"},
            ],
        },
    ]


def test_tool_choice_none_drops_tools_unless_the_history_uses_them() -> None:
    fresh = ask(user("hi"), tools=[WEATHER], tool_choice="none")
    assert "toolConfig" not in build_payload(fresh)
    call = ToolCall(id="a", name="get_weather")
    history = ask(
        user("hi"),
        ChatMessage(role="assistant", tool_calls=[call]),
        ChatMessage(role="tool", tool_call_id="a", content="rain"),
        tools=[WEATHER],
        tool_choice="none",
    )
    # Converse requires toolConfig once tool blocks appear; no toolChoice means auto.
    assert build_payload(history)["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "inputSchema": {"json": WEATHER.parameters},
                    "description": "current weather",
                }
            }
        ]
    }


def test_payload_images_and_json_schema() -> None:
    message = ChatMessage(
        role="user",
        content=[TextPart(text="look"), ImagePart(media_type="image/webp", data=PNG)],
    )
    schema = {"type": "object", "properties": {}}
    payload = build_payload(
        ask(
            message,
            response_format=ResponseFormat(type="json_schema", json_schema=schema, name="out"),
        )
    )
    assert payload["messages"] == [
        {
            "role": "user",
            "content": [{"text": "look"}, {"image": {"format": "webp", "source": {"bytes": PNG}}}],
        }
    ]
    assert payload["outputConfig"] == {
        "textFormat": {
            "type": "json_schema",
            "structure": {"jsonSchema": {"schema": orjson.dumps(schema).decode(), "name": "out"}},
        }
    }
