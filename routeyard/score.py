"""``routeyard score``: the worker's complexity score for prompts given as JSON lines.

Each input line is ``{"id": ..., "prompt": "..."}`` or ``{"id": ..., "messages": [...]}``
(messages in the chat schema, schemas/chat.py); each output line is
``{"id": ..., "score": ..., "tier": ..., "task_type": ...}``. A line that cannot be scored
becomes a :class:`BadLine` in its place, so callers keep input order and line numbers.

The request is built and classified the way triage does it, so the numbers are the ones
the worker would publish on the dispatch event for the same messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from policy.classifier import classify
from policy.scoring import build_classifier
from schemas.config import GatewayConfig
from schemas.events import Classification, LLMRequest

Scorer = Callable[[LLMRequest], Classification]

# Only the messages reach the classifier; the request's identity is a placeholder that
# satisfies the schema.
_REQUEST_ID = "routeyard-score"
_TENANT = "routeyard-score"


@dataclass(frozen=True)
class BadLine:
    """An input line that was skipped: its 1-based number and why."""

    line: int
    reason: str


def scorer_for(config: GatewayConfig) -> Scorer:
    """The classifier triage applies to requests under ``config`` (its ``router``: the
    learned score or the heuristic, and the tier thresholds). Raises
    :class:`policy.scoring.ScorerLoadError` (a ConfigError) naming ``router.model_dir``
    when the learned model cannot be loaded."""
    return build_classifier(config.router)


def _reject_constant(name: str) -> Any:
    # Python's json takes NaN and Infinity, which are not JSON and could not be echoed back.
    raise ValueError(f"{name} is not a JSON number")


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    return "null" if value is None else "a number"


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}" if where else str(err["msg"]))
    return "; ".join(parts)


def _request(doc: dict[str, Any]) -> LLMRequest | str:
    """The request triage would see for this line's messages, or why there is none."""
    has_prompt, has_messages = "prompt" in doc, "messages" in doc
    if has_prompt and has_messages:
        return "give prompt or messages, not both"
    if has_prompt:
        prompt = doc["prompt"]
        if not isinstance(prompt, str) or not prompt:
            return "prompt: must be a non-empty string"
        messages: Any = [{"role": "user", "content": prompt}]
    elif has_messages:
        messages = doc["messages"]
    else:
        return "neither prompt nor messages given"
    try:
        return LLMRequest.model_validate(
            {"request_id": _REQUEST_ID, "tenant": _TENANT, "messages": messages}
        )
    except ValidationError as exc:
        # Only messages come from the line, so every error's path starts with it.
        return _describe(exc)


def score_line(number: int, line: str | bytes, scorer: Scorer = classify) -> str | BadLine:
    """One input line's output line (JSON, no newline), or why it was skipped."""
    try:
        text = line.decode() if isinstance(line, bytes) else line
        doc = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        return BadLine(number, f"not UTF-8: {exc}")
    except ValueError as exc:  # json.JSONDecodeError is one
        return BadLine(number, f"not JSON: {exc}")
    if not isinstance(doc, dict):
        return BadLine(number, f"not a JSON object but {_json_type(doc)}")
    if "id" not in doc:
        return BadLine(number, "id: missing")
    ident = doc["id"]
    if isinstance(ident, dict | list):
        return BadLine(number, "id: must be a string, number, boolean or null")
    request = _request(doc)
    if isinstance(request, str):
        return BadLine(number, request)
    c = scorer(request)
    out = {"id": ident, "score": c.score, "tier": c.tier, "task_type": c.task_type}
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def score_lines(lines: Iterable[str | bytes], scorer: Scorer = classify) -> Iterator[str | BadLine]:
    """Each non-blank line's result, in input order; blank lines are skipped silently
    (a trailing newline or a spacer is not a mistake) but still counted."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        yield score_line(number, line, scorer)
