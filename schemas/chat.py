"""The chat vocabulary shared by requests, adapters and responses.

Messages carry text or content parts (text, images); assistants may carry tool calls and
tool messages answer them by ``tool_call_id``. Tools are described by JSON Schema; a
response format asks for JSON output, optionally against a schema. Each adapter maps
these to its wire format or refuses, before the call, what its provider cannot do.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "content_filter", "tool_calls", "other"]
ImageMediaType = Literal["image/png", "image/jpeg", "image/gif", "image/webp"]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TextPart(_Part):
    type: Literal["text"] = "text"
    text: str = Field(min_length=1)


class ImagePart(_Part):
    """An image given inline (base64 ``data``) or by ``url``: exactly one of the two."""

    type: Literal["image"] = "image"
    media_type: ImageMediaType
    data: str | None = Field(default=None, min_length=1, description="base64, no data: prefix")
    url: HttpUrl | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.data is None) == (self.url is None):
            raise ValueError("an image needs exactly one of data or url")
        return self


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class ToolCall(_Part):
    id: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=64)
    arguments: dict[str, Any] = Field(default_factory=dict)


class ChatMessage(_Part):
    role: Role
    content: str | list[ContentPart] = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = Field(default=None, description="for role tool: the call answered")

    @model_validator(mode="after")
    def _shape_fits_role(self) -> Self:
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")
        if (self.role == "tool") != (self.tool_call_id is not None):
            raise ValueError("tool_call_id is required for role tool, and only for it")
        if not self.content and not self.tool_calls:
            raise ValueError("content is empty")
        if self.role == "system" and self.images:
            raise ValueError("system messages take text only")
        return self

    @property
    def text(self) -> str:
        """The message's text, parts joined; images left out."""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def images(self) -> list[ImagePart]:
        if isinstance(self.content, str):
            return []
        return [p for p in self.content if isinstance(p, ImagePart)]


class ToolSpec(_Part):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON Schema of the arguments",
    )


ToolChoice = Literal["auto", "none", "required"]


class ResponseFormat(_Part):
    """``json_object``: any JSON object; ``json_schema``: JSON valid against ``json_schema``."""

    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: dict[str, Any] | None = None
    name: str = Field(default="response", pattern=r"^[A-Za-z0-9_-]{1,64}$")

    @model_validator(mode="after")
    def _schema_given(self) -> Self:
        if (self.type == "json_schema") != (self.json_schema is not None):
            raise ValueError("json_schema is required for type json_schema, and only for it")
        return self


class GenerationParams(_Part):
    max_tokens: int | None = Field(default=None, ge=1, le=200_000)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    stop: list[str] | None = Field(default=None, max_length=4)
