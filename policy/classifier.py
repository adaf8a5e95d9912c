"""The heuristic complexity classifier (``router.scorer: heuristic``).

Scores a request in [0, 1] from cheap text features: length, code, math, multi-step
reasoning cues, conversation depth and the task type, with hand-set weights. The learned
scorer (policy/learned_score.py) feeds the same features to a trained model; the feature
names are stable because they are published on every dispatch event.
"""

from __future__ import annotations

import math
import re
from itertools import islice

from schemas.events import Classification, LLMRequest, TaskType, Tier
from schemas.router import TierThresholds

_CODE = re.compile(
    r"```|\bdef \w+\(|\bclass \w+|\bfunction\b|\breturn\b|#include|\bimport \w+|=>|\bSELECT\b"
    r"|\bstack ?trace\b|\bcompile|\bregex\b|\bpython\b|\bjavascript\b|\bsql\b|\brust\b",
    re.IGNORECASE,
)
_MATH = re.compile(
    r"\b(prove|proof|integral|derivative|equation|theorem|solve for|probability|matrix"
    r"|eigen\w*|lemma|polynomial)\b|\\frac|\\sum|(?<!\d)\d++\s*[\^*/]\s*\d|[=<>]\s*-?\d",
    re.IGNORECASE,
)
_REASONING = re.compile(
    r"\b(step[- ]by[- ]step|explain why|reason(ing)? about|trade-?offs?|compare|analy[sz]e"
    r"|pros and cons|plan\b|design an?|evaluate|justify|first,|then,|finally,)",
    re.IGNORECASE,
)
_SUMMARIZE = re.compile(r"\b(summari[sz]e|tl;?dr|key points)\b", re.IGNORECASE)
_EXTRACT = re.compile(r"\b(extract|as json|json schema|fill in the fields)\b", re.IGNORECASE)

_TASK_WEIGHT: dict[TaskType, float] = {
    "chat": 0.0,
    "summarize": 0.05,
    "extract": 0.05,
    "creative": 0.1,
    "code": 0.2,
    "math": 0.25,
    "reasoning": 0.25,
}


def _count(pattern: re.Pattern[str], text: str, cap: int) -> float:
    # Stops at the cap: the same value as counting every match, without scanning the rest.
    return sum(1 for _ in islice(pattern.finditer(text), cap)) / cap


def infer_task_type(text: str, features: dict[str, float]) -> TaskType:
    if features["code"] > 0:
        return "code"
    if features["math"] > 0:
        return "math"
    if features["reasoning"] >= 0.5:
        return "reasoning"
    if _SUMMARIZE.search(text):
        return "summarize"
    if _EXTRACT.search(text):
        return "extract"
    return "chat"


HEURISTIC_THRESHOLDS = TierThresholds(moderate=0.35, complex=0.65)


def tier_for(score: float, thresholds: TierThresholds = HEURISTIC_THRESHOLDS) -> Tier:
    if score < thresholds.moderate:
        return "simple"
    if score < thresholds.complex:
        return "moderate"
    return "complex"


# Features are read from the head and tail of a long prompt: a 4 MB prompt scanned whole
# took 4 s of the worker's only thread, blocking every other event (the counts are
# capped at a few hits, so the middle rarely changes them).
_SCAN_CHARS = 32_000


def head_tail(text: str, chars: int) -> str:
    """``text`` itself when it has at most ``2 * chars`` characters, else its first and last
    ``chars`` joined by a newline."""
    return text if len(text) <= 2 * chars else f"{text[:chars]}\n{text[-chars:]}"


def request_text(request: LLMRequest) -> str:
    """Every message's text, one per line: what the scorers read."""
    return "\n".join(m.text for m in request.messages)


def text_features(
    full: str, messages: int, scan_chars: int = _SCAN_CHARS
) -> tuple[str, dict[str, float]]:
    """The scanned text (head and tail of ``full``) and the cheap features.

    ``length`` counts every character; the other counts read only the scanned text.
    """
    text = head_tail(full, scan_chars)
    features = {
        # log scale: 100 chars ~ 0.33, 10k chars ~ 0.67, 1M chars ~ 1.0
        "length": min(math.log10(len(full) + 1) / 6.0, 1.0),
        "code": _count(_CODE, text, 4),
        "math": _count(_MATH, text, 3),
        "reasoning": _count(_REASONING, text, 4),
        "questions": min(text.count("?"), 4) / 4,
        "turns": min(messages - 1, 8) / 8,
    }
    return text, features


def read_features(
    request: LLMRequest, scan_chars: int = _SCAN_CHARS
) -> tuple[str, dict[str, float]]:
    return text_features(request_text(request), len(request.messages), scan_chars)


def classify(
    request: LLMRequest, thresholds: TierThresholds = HEURISTIC_THRESHOLDS
) -> Classification:
    text, features = read_features(request)
    task_type = request.task_type or infer_task_type(text, features)
    score = (
        0.30 * features["length"]
        + 0.15 * features["code"]
        + 0.15 * features["math"]
        + 0.25 * features["reasoning"]
        + 0.05 * features["questions"]
        + 0.05 * features["turns"]
        + _TASK_WEIGHT[task_type]
    )
    score = round(min(max(score, 0.0), 1.0), 4)
    return Classification(
        score=score, tier=tier_for(score, thresholds), task_type=task_type, features=features
    )
