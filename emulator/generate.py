"""Deterministic answers: the same request always gets the same text and token counts."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from typing import Literal

# Roughly what a BPE tokenizer averages on English text.
CHARS_PER_TOKEN = 4
# Answers the model "wants" to give run between these many tokens before max_tokens.
_MIN_NATURAL_TOKENS = 8
_NATURAL_TOKENS_SPREAD = 56
_FALLBACK_WORDS = ("ok",)


def estimate_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 1


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    output_tokens: int
    stop: Literal["end_turn", "max_tokens", "stop_sequence"]
    stop_sequence: str | None = None


def generate_reply(prompt: str, *, max_tokens: int | None, stop: list[str]) -> Reply:
    """An answer echoing the prompt's words, sized by a hash of the prompt.

    The text is built so :func:`estimate_tokens` of it equals ``output_tokens``.
    A stop sequence found in the text cuts it there, as a real model would stop.
    """
    natural = _MIN_NATURAL_TOKENS + _digest(prompt) % _NATURAL_TOKENS_SPREAD
    tokens = natural if max_tokens is None else min(natural, max_tokens)
    text = _echo(prompt, _chars_for(tokens))
    for sequence in stop:
        cut = text.find(sequence) if sequence else -1
        if cut >= 0:
            kept = text[:cut]
            return Reply(kept, estimate_tokens(kept), "stop_sequence", sequence)
    reason: Literal["end_turn", "max_tokens"] = "max_tokens" if tokens < natural else "end_turn"
    return Reply(text, tokens, reason)


def _chars_for(tokens: int) -> int:
    # The longest text whose estimate is exactly ``tokens``.
    return tokens * CHARS_PER_TOKEN - 1


def _echo(prompt: str, length: int) -> str:
    words = prompt.split() or list(_FALLBACK_WORDS)
    text = " ".join(itertools.islice(itertools.cycle(words), length))
    return text[:length]


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
