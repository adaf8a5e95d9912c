"""OpenAI Chat Completions messages as routeyard's :class:`~schemas.chat.ChatMessage`.

- ``developer`` messages are ``system`` messages (the newer name for the same role).
- Content is a string or parts: ``text`` parts (empty ones dropped: they say nothing),
  ``image_url`` parts (user messages only) and, in assistant messages, ``refusal`` parts,
  kept as the text the assistant said. Audio and file parts are refused.
- An image given as a ``data:`` URL is carried inline (base64, checked); an ``http(s)``
  URL is carried as a URL. ``detail`` is ignored: no provider behind routeyard takes it.
- Tool calls' ``arguments`` are a JSON string on the wire and an object here.
- Keys that describe an answer rather than ask for one (``refusal``, ``annotations``, a
  null ``audio``) are accepted on assistant messages, so that a caller can send back the
  message object an earlier reply gave it; ``name`` is accepted and dropped everywhere.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from typing import Any, get_args
from urllib.parse import urlsplit

import orjson
from pydantic import ValidationError

from routeyard.front.openai_wire import (
    Obj,
    invalid,
    invalid_model,
    only_keys,
    read_list,
    read_obj,
    read_str,
    unsupported,
)
from schemas.chat import (
    ChatMessage,
    ContentPart,
    ImageMediaType,
    ImagePart,
    Role,
    TextPart,
    ToolCall,
)

_MEDIA_TYPES: frozenset[str] = frozenset(get_args(ImageMediaType))
# Common spellings that are not the registered media type.
_MEDIA_ALIASES = {"image/jpg": "image/jpeg"}

_SYSTEM_KEYS = frozenset({"role", "content", "name"})
_USER_KEYS = _SYSTEM_KEYS
_TOOL_KEYS = frozenset({"role", "content", "tool_call_id"})
_ASSISTANT_KEYS = frozenset(
    {"role", "content", "name", "tool_calls", "refusal", "annotations", "audio", "function_call"}
)
_PART_CACHE_KEY = "prompt_cache_breakpoint"  # a cache hint: providers behind us cache on their own


def to_messages(value: object) -> list[ChatMessage]:
    items = read_list(value, "messages")
    if not items:
        raise invalid("messages", "at least one message is required")
    return [_message(item, f"messages[{i}]") for i, item in enumerate(items)]


def _message(value: object, path: str) -> ChatMessage:
    m = read_obj(value, path)
    role = m.get("role")
    if role in ("system", "developer"):
        only_keys(m, _SYSTEM_KEYS, path)
        return _build(path, "system", _content(m, path, images=False))
    if role == "user":
        only_keys(m, _USER_KEYS, path)
        return _build(path, "user", _content(m, path, images=True))
    if role == "assistant":
        return _assistant(m, path)
    if role == "tool":
        only_keys(m, _TOOL_KEYS, path)
        call_id = read_str(m.get("tool_call_id"), f"{path}.tool_call_id")
        return _build(path, "tool", _content(m, path, images=False), tool_call_id=call_id)
    if role == "function":
        raise unsupported(f"{path}.role", "'function' messages are legacy; use 'tool'")
    raise invalid(
        f"{path}.role", f"{role!r} is not one of system, developer, user, assistant, tool"
    )


def _assistant(m: Obj, path: str) -> ChatMessage:
    only_keys(m, _ASSISTANT_KEYS, path)
    for legacy in ("audio", "function_call"):
        if legacy in m:
            raise unsupported(f"{path}.{legacy}", "give earlier turns as content and tool_calls")
    content = _content(m, path, images=False, refusals=True)
    refusal = m.get("refusal")
    if not content and refusal is not None:
        content = read_str(refusal, f"{path}.refusal")
    calls = [
        _tool_call(item, f"{path}.tool_calls[{i}]")
        for i, item in enumerate(read_list(m.get("tool_calls", []), f"{path}.tool_calls"))
    ]
    return _build(path, "assistant", content, tool_calls=calls)


def _build(path: str, role: Role, content: str | list[ContentPart], **rest: Any) -> ChatMessage:
    try:
        return ChatMessage(role=role, content=content, **rest)
    except ValidationError as exc:
        raise invalid_model(path, exc) from exc


def _content(m: Obj, path: str, *, images: bool, refusals: bool = False) -> str | list[ContentPart]:
    value = m.get("content", "")
    if isinstance(value, str):
        return value
    parts = read_list(value, f"{path}.content")
    out: list[ContentPart] = []
    for i, item in enumerate(parts):
        part = _part(item, f"{path}.content[{i}]", images=images, refusals=refusals)
        if part is not None:
            out.append(part)
    return out


def _part(value: object, path: str, *, images: bool, refusals: bool) -> ContentPart | None:
    p = read_obj(value, path)
    kind = p.get("type")
    if kind == "text":
        only_keys(p, frozenset({"type", "text", _PART_CACHE_KEY}), path)
        text = read_str(p.get("text"), f"{path}.text")
        return TextPart(text=text) if text else None
    if kind == "refusal" and refusals:
        only_keys(p, frozenset({"type", "refusal"}), path)
        text = read_str(p.get("refusal"), f"{path}.refusal")
        return TextPart(text=text) if text else None
    if kind == "image_url" and images:
        only_keys(p, frozenset({"type", "image_url", _PART_CACHE_KEY}), path)
        image = read_obj(p.get("image_url"), f"{path}.image_url")
        only_keys(image, frozenset({"url", "detail"}), f"{path}.image_url")
        return image_part(read_str(image.get("url"), f"{path}.image_url.url"), f"{path}.image_url")
    if kind in ("text", "refusal", "image_url", "input_audio", "file"):
        raise unsupported(f"{path}.type", f"{kind!r} parts are not taken in this message")
    raise invalid(f"{path}.type", f"unknown content part type {kind!r}")


def image_part(url: str, path: str) -> ImagePart:
    """An image from an ``image_url.url``: inline from ``data:``, else by ``http(s)`` URL."""
    param = f"{path}.url"
    if url.startswith("data:"):
        header, comma, data = url[len("data:") :].partition(",")
        media_type, _, encoding = header.partition(";")
        media_type = _MEDIA_ALIASES.get(media_type.lower(), media_type.lower())
        if not comma or encoding.lower() != "base64":
            raise invalid(param, "a data: URL must read data:<media type>;base64,<data>")
        if media_type not in _MEDIA_TYPES:
            known = ", ".join(sorted(_MEDIA_TYPES))
            raise invalid(param, f"image type {media_type!r} is not one of {known}")
        try:
            base64.b64decode(data, validate=True)
        except binascii.Error as exc:
            raise invalid(param, f"the image data is not base64: {exc}") from exc
        return _image(param, media_type=media_type, data=data)
    if urlsplit(url).scheme not in ("http", "https"):
        raise invalid(param, "an image URL must be http(s) or a data: URL")
    return _image(param, media_type=_guess_media_type(url), url=url)


def _image(param: str, **fields: Any) -> ImagePart:
    try:
        return ImagePart(**fields)
    except ValidationError as exc:
        raise invalid_model(param, exc) from exc


def _guess_media_type(url: str) -> str:
    # The schema asks every image for a media type, but no adapter sends it with a URL
    # image (the provider fetches the bytes and reads their type), so a URL without a
    # telling extension needs no refusal: any supported type will do.
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed if guessed in _MEDIA_TYPES else "image/jpeg"


def _tool_call(value: object, path: str) -> ToolCall:
    call = read_obj(value, path)
    if call.get("type", "function") != "function":
        raise unsupported(f"{path}.type", "only function tool calls")
    only_keys(call, frozenset({"id", "type", "function"}), path)
    fn = read_obj(call.get("function"), f"{path}.function")
    only_keys(fn, frozenset({"name", "arguments"}), f"{path}.function")
    raw = read_str(fn.get("arguments", ""), f"{path}.function.arguments")
    try:
        arguments = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise invalid(f"{path}.function.arguments", f"not JSON: {exc}") from exc
    if not isinstance(arguments, dict):
        raise invalid(f"{path}.function.arguments", "expected a JSON object")
    try:
        return ToolCall(
            id=read_str(call.get("id"), f"{path}.id"),
            name=read_str(fn.get("name"), f"{path}.function.name"),
            arguments=arguments,
        )
    except ValidationError as exc:
        raise invalid_model(path, exc) from exc
