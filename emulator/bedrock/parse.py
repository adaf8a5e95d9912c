"""Checking a Bedrock Converse request body and reducing it to a ChatCall.

Bodies are validated against botocore's model of the Converse input
(:mod:`emulator.bedrock.shapes`) plus the conversation rules Bedrock enforces: turns
alternate and start with the user, tool blocks need a ``toolConfig``, text is not blank.
"""

from __future__ import annotations

from typing import Any

import orjson

from emulator.base import ChatCall, ToolDef
from emulator.bedrock.shapes import check_body
from emulator.fields import FieldError
from emulator.generate import estimate_tokens


def parse_request(body: dict[str, Any], model: str, *, stream: bool = False) -> ChatCall:
    """The call ``body`` asks of ``model`` (of ConverseStream when ``stream``); raises
    :class:`FieldError` where Bedrock would refuse it."""
    check_body(body, "ConverseStream" if stream else "Converse")
    messages = body.get("messages")
    if not messages:
        raise FieldError("messages", "Member must not be null")
    texts = [block["text"] for block in body.get("system", []) if "text" in block]
    tools = _tools(body.get("toolConfig"))
    last_text, images, answering = "", 0, False
    for i, message in enumerate(messages):
        _check_turn(messages, i, has_tools=bool(tools))
        last_text, answering = "", False
        for j, block in enumerate(message["content"]):
            where = f"messages.{i}.content.{j}"
            if "text" in block and not block["text"].strip():
                raise FieldError(where, "The text field in the ContentBlock object is blank")
            last_text += block.get("text", "") + _tool_result_text(block)
            images += int("image" in block)
            answering = answering or "toolResult" in block
        texts.append(last_text)
    inference = body.get("inferenceConfig", {})
    return ChatCall(
        model=model,
        prompt=last_text,
        prompt_tokens=sum(estimate_tokens(t) for t in texts),
        max_tokens=inference.get("maxTokens"),
        stop=list(inference.get("stopSequences", [])),
        tools=tuple(tools),
        tool_choice=_tool_choice(body.get("toolConfig"), tools),
        json_schema=_json_schema(body.get("outputConfig")),
        images=images,
        answering_tool=answering,
        stream=stream,
    )


def _check_turn(messages: list[dict[str, Any]], i: int, *, has_tools: bool) -> None:
    role = messages[i]["role"]
    if role == "system":
        raise FieldError(f"messages.{i}.role", "system prompts go in the system field")
    if i == 0 and role != "user":
        raise FieldError("messages.0.role", "A conversation must start with a user message.")
    if i > 0 and messages[i - 1]["role"] == role:
        raise FieldError(
            f"messages.{i}.role", "A conversation must alternate between user and assistant roles."
        )
    misplaced = "toolResult" if role == "assistant" else "toolUse"
    for j, block in enumerate(messages[i]["content"]):
        if misplaced in block:
            raise FieldError(f"messages.{i}.content.{j}", f"{misplaced} is not allowed for {role}")
        if ("toolUse" in block or "toolResult" in block) and not has_tools:
            raise FieldError(
                "toolConfig",
                "The toolConfig field must be defined when using toolUse and toolResult"
                " content blocks.",
            )


def _tool_result_text(block: dict[str, Any]) -> str:
    result = block.get("toolResult")
    if result is None:
        return ""
    parts = [
        part["text"] if "text" in part else orjson.dumps(part.get("json")).decode()
        for part in result["content"]
        if "text" in part or "json" in part
    ]
    return "".join(parts)


def _tools(config: dict[str, Any] | None) -> list[ToolDef]:
    if config is None:
        return []
    return [
        ToolDef(t["toolSpec"]["name"], t["toolSpec"]["inputSchema"].get("json") or {})
        for t in config["tools"]
        if "toolSpec" in t
    ]


def _tool_choice(config: dict[str, Any] | None, tools: list[ToolDef]) -> str:
    choice = (config or {}).get("toolChoice", {"auto": {}})
    if "any" in choice:
        return "required"
    if "tool" in choice:
        name: str = choice["tool"]["name"]
        if name not in {t.name for t in tools}:
            raise FieldError("toolConfig.toolChoice.tool.name", f"no tool named {name}")
        return name
    return "auto"


def _json_schema(config: dict[str, Any] | None) -> dict[str, Any] | None:
    text_format = (config or {}).get("textFormat")
    if text_format is None:
        return None
    schema = text_format["structure"].get("jsonSchema", {}).get("schema")
    path = "outputConfig.textFormat.structure.jsonSchema.schema"
    if schema is None:
        raise FieldError(path, "Member must not be null")
    try:
        document = orjson.loads(schema)
    except orjson.JSONDecodeError as exc:
        raise FieldError(path, "the schema is not valid JSON") from exc
    if not isinstance(document, dict):
        raise FieldError(path, "the schema must be a JSON object")
    return document
