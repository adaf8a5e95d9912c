"""Reading a Gemini ``generateContent`` answer into a :class:`adapters.base.ProviderResult`.

Replies are camelCase proto3 JSON, which leaves out zero counts and empty lists; a
blocked prompt or answer is a 200 whose feedback or finish reason says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from adapters.base import ProviderResult
from adapters.errors import ContentFiltered
from adapters.gemini.payload import GENERATED_ID_PREFIX
from adapters.http_call import HttpReply
from adapters.vendor_reply import LenientModel, derived_call_id
from schemas.chat import ToolCall
from schemas.events import FinishReason

_FINISH: dict[str, FinishReason] = {"STOP": "stop", "MAX_TOKENS": "length"}
# Finish reasons that mean the safety machinery withheld the answer.
_BLOCKED = frozenset(
    {
        "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR",
    }
)  # fmt: skip


class _Reply(LenientModel):
    # Replies are camelCase JSON; the fields here are snake_case.
    model_config = ConfigDict(alias_generator=to_camel)


class FunctionCall(_Reply):
    id: str | None = None
    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class _Part(_Reply):
    text: str | None = None
    thought: bool = False
    function_call: FunctionCall | None = None


class _Content(_Reply):
    # Absent on a candidate that was blocked or produced nothing.
    parts: list[_Part] = Field(default_factory=list)


class _Candidate(_Reply):
    content: _Content = _Content()
    finish_reason: str | None = None
    finish_message: str | None = None


class _PromptFeedback(_Reply):
    block_reason: str | None = None
    block_reason_message: str | None = None


class Usage(_Reply):
    # proto3 JSON leaves out zero counts, so every count defaults to 0.
    prompt_token_count: int = Field(default=0, ge=0)
    candidates_token_count: int = Field(default=0, ge=0)
    cached_content_token_count: int = Field(default=0, ge=0)
    thoughts_token_count: int = Field(default=0, ge=0)


class Chunk(_Reply):
    """A streamed piece of an answer; a whole answer is one chunk that has its usage."""

    candidates: list[_Candidate] = Field(default_factory=list)
    prompt_feedback: _PromptFeedback | None = None
    usage_metadata: Usage | None = None
    model_version: str | None = None
    response_id: str | None = None


class _Response(Chunk):
    # Required: without it we cannot bill the call.
    usage_metadata: Usage


@dataclass(frozen=True, slots=True)
class TokenCounts:
    input: int
    output: int
    cached: int


def parse_result(reply: HttpReply, *, asked_model: str) -> ProviderResult:
    """The result of a 2xx reply; raises MalformedResponse or ContentFiltered."""
    try:
        body = _Response.model_validate(reply.body)
    except ValidationError as exc:
        raise reply.malformed("unexpected generateContent body") from exc
    reply = reply.with_request_id(body.response_id)
    check_blocked(reply, body)
    if not body.candidates:
        raise reply.malformed("no candidates")
    candidate = body.candidates[0]
    parts = candidate.content.parts
    calls = [p.function_call for p in parts if p.function_call is not None]
    try:
        tool_calls = [tool_call(c, i) for i, c in enumerate(calls)]
    except ValidationError as exc:
        raise reply.malformed("unusable functionCall") from exc
    counts = token_counts(body.usage_metadata)
    return ProviderResult(
        # Thought summaries are the model's reasoning, not its answer.
        content="".join(p.text or "" for p in parts if not p.thought),
        tool_calls=tool_calls,
        finish_reason=finish_reason(candidate.finish_reason, called=bool(tool_calls)),
        input_tokens=counts.input,
        output_tokens=counts.output,
        cached_input_tokens=counts.cached,
        provider_request_id=reply.request_id,
        upstream_model=body.model_version or asked_model,
    )


def check_blocked(reply: HttpReply, body: Chunk) -> None:
    """Raise ContentFiltered when the prompt or the answer was withheld."""
    feedback = body.prompt_feedback
    if feedback is not None and feedback.block_reason:
        message = feedback.block_reason_message or f"prompt blocked: {feedback.block_reason}"
        raise reply.error(ContentFiltered, message)
    candidate = body.candidates[0] if body.candidates else None
    if candidate is not None and candidate.finish_reason in _BLOCKED:
        message = candidate.finish_message or f"output blocked: {candidate.finish_reason}"
        raise reply.error(ContentFiltered, message)


def finish_reason(raw: str | None, *, called: bool) -> FinishReason:
    # Gemini finishes a function call with STOP; the calls say what happened.
    return "tool_calls" if called else _FINISH.get(raw or "", "other")


def token_counts(usage: Usage) -> TokenCounts:
    return TokenCounts(
        # promptTokenCount already includes the cached part.
        input=usage.prompt_token_count,
        # Thinking tokens are billed as output, but counted apart from the answer.
        output=usage.candidates_token_count + usage.thoughts_token_count,
        cached=usage.cached_content_token_count,
    )


def tool_call(call: FunctionCall, index: int) -> ToolCall:
    """Gemini's own id when it sends one; else one derived from the call and its place
    among the answer's calls (not its parts: a streamed answer splits text into more)."""
    call_id = call.id or derived_call_id(GENERATED_ID_PREFIX, index, call.name, call.args)
    return ToolCall(id=call_id, name=call.name, arguments=call.args)
