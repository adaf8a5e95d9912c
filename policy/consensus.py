"""Consensus over several models' answers to one request: pure aggregation rules.

A route with ``consensus`` fans a request out to N models (streams/consensus.py) and picks
one answer here, by one of three strategies:

``majority``
    Answers are compared after :func:`normalize_answer`; the largest group of equal
    answers wins, a tie going to the group whose first member comes first in the
    configured model order. The pick is *decided* when the group holds at least
    ``min_agree`` answers; otherwise the plurality is still returned, flagged undecided
    (the caller gets the answer and the flag; failing the request instead would redo N
    billed calls that would most likely disagree again). Answers that normalize to
    nothing (empty, punctuation only) do not vote.

    Majority is meant for short, extractive answers (a number, a name, a label, a
    yes/no). Two correct paraphrases of a longer answer almost never normalize equal, so
    on long outputs every answer is a group of one and the tie rule alone picks: use
    ``first_valid`` or ``judge`` there.

``first_valid``
    The first answer, in completion order, that passes the route's quality checks. When
    none passes, the first answer to complete is returned, flagged undecided.

``judge``
    One more model reads the request and the numbered answers (in model order) and
    replies with the number of the best one; :func:`parse_judge_pick` reads that reply.
    A reply that names no single answer, or a judge call that failed, falls back to the
    majority rule, and the pick says so (undecided, with a note).

Normalization (:func:`normalize_answer`), in order:

1. Unicode NFKC and case folding (full-width digits become ASCII, ``Straße`` -> ``strasse``);
2. markdown emphasis and code marks (``*``, ``_``, `````) removed;
3. one leading answer preamble removed: ``the answer is``, ``final answer:``,
   ``answer =``, ``the result is`` and the like;
4. numbers written in canonical decimal form: thousands separators dropped, trailing
   zeros and a trailing point dropped, ``+`` and ``-0`` dropped (``1,000.50`` ->
   ``1000.5``, ``42.0`` -> ``42``, ``4.2e1`` -> ``42``);
5. every other character that is not a letter, a digit or a space becomes a space, so
   punctuation, quotes, currency and percent signs do not count (``$42`` = ``42%`` = ``42``);
6. the articles ``a``, ``an`` and ``the`` dropped; runs of spaces collapsed.

So ``"42"``, ``"42.0"``, ``"The answer is 42."`` and ``"**Answer:** 42"`` all normalize to
``"42"``, while ``"41"`` and ``"forty-two"`` stay different from it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import orjson

from adapters.base import ProviderResult
from schemas.chat import ChatMessage

_MARKUP = re.compile(r"[*_`]")
_PREAMBLE = re.compile(
    r"^\s*(?:so\s*,?\s*)?(?:the\s+|my\s+)?(?:final\s+|correct\s+|short\s+)?"
    r"(?:answer|result|solution)\s*(?:is\s*:?|:|=|-)\s*"
)
_NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?(?!\w)"
)
_ARTICLES = frozenset({"a", "an", "the"})
# Exponents past this are written in scientific form, so "1e999999" stays a short key.
_MAX_PLAIN_EXPONENT = 40


def normalize_answer(text: str) -> str:
    """The comparison key of an answer for ``majority`` (rules in the module docstring)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = _MARKUP.sub("", folded)
    folded = _PREAMBLE.sub("", folded, count=1)
    pieces: list[str] = []
    last = 0
    for match in _NUMBER.finditer(folded):
        pieces.append(_words(folded[last : match.start()]))
        pieces.append(_canonical_number(match.group()))
        last = match.end()
    pieces.append(_words(folded[last:]))
    words = " ".join(pieces).split()
    return " ".join(w for w in words if w not in _ARTICLES)


def _words(text: str) -> str:
    return "".join(c if c.isalnum() or c.isspace() else " " for c in text)


def _canonical_number(text: str) -> str:
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return _words(text)
    if value == 0:
        return "0"  # drops the sign of -0 and the exponent of 0e5
    value = value.normalize()
    if abs(value.adjusted()) <= _MAX_PLAIN_EXPONENT:
        return format(value, "f")
    return str(value).lower()


def answer_text(result: ProviderResult) -> str:
    """What an answer says, for comparing and judging: its text, then its tool calls."""
    calls = [
        f"{c.name} {orjson.dumps(c.arguments, option=orjson.OPT_SORT_KEYS).decode()}"
        for c in result.tool_calls
    ]
    return "\n".join([result.content, *calls]) if calls else result.content


@dataclass(frozen=True, slots=True)
class Answer:
    """One model's answer; ``text`` as :func:`answer_text` gives it."""

    model: str
    text: str


@dataclass(frozen=True, slots=True)
class Pick:
    """The chosen answer: ``index`` into the answers given to the rule that picked it."""

    index: int
    agreed: tuple[str, ...]
    """Models whose normalized answer equals the chosen one's (the chosen one included,
    unless its answer normalizes to nothing)."""
    decided: bool
    """False when a fallback rule picked: below ``min_agree``, no valid answer, or a judge
    reply that named no answer."""
    note: str = ""


def agreeing(answers: Sequence[Answer], index: int) -> tuple[str, ...]:
    """The models (in the given order) whose answer normalizes as ``answers[index]``'s."""
    key = normalize_answer(answers[index].text)
    if not key:
        return ()
    return tuple(a.model for a in answers if normalize_answer(a.text) == key)


def majority(answers: Sequence[Answer], min_agree: int) -> Pick:
    """The largest group of equal answers; ``answers`` in the configured model order."""
    if not answers:
        raise ValueError("majority: no answers to choose from")
    groups: dict[str, list[int]] = {}
    for i, answer in enumerate(answers):
        key = normalize_answer(answer.text)
        if key:
            groups.setdefault(key, []).append(i)
    if not groups:
        return Pick(0, (), False, "every answer is empty after normalization")
    # Dicts keep insertion order, so among equal counts the first-seen group wins.
    best = max(groups.values(), key=len)
    agreed = tuple(answers[i].model for i in best)
    if len(best) >= min_agree:
        return Pick(best[0], agreed, True)
    note = f"no answer reached min_agree={min_agree}: the largest group has {len(best)}"
    return Pick(best[0], agreed, False, note)


def first_valid(answers: Sequence[Answer], failures: Sequence[str | None]) -> Pick:
    """The first answer whose quality check found nothing; ``answers`` in completion
    order, ``failures[i]`` the check that ``answers[i]`` failed (None: it passed)."""
    if not answers or len(answers) != len(failures):
        raise ValueError("first_valid: one failure entry per answer, and at least one answer")
    for i, failure in enumerate(failures):
        if failure is None:
            return Pick(i, agreeing(answers, i), True)
    why = "; ".join(f"{a.model}: {f}" for a, f in zip(answers, failures, strict=True))
    return Pick(0, agreeing(answers, 0), False, f"no answer passed the checks ({why})")


JUDGE_INSTRUCTIONS = (
    "You are judging candidate answers to the same request. Pick the single best answer:"
    " the most correct, then the most complete and helpful. Reply with its number only,"
    " for example: 2"
)


def judge_messages(request: Sequence[ChatMessage], answers: Sequence[Answer]) -> list[ChatMessage]:
    """The judge's conversation: one user message (no system prompt, which not every
    provider takes) with the instructions, the request as text, then the answers numbered
    from 1 in model order, without the models' names (so the judge cannot favour a name)."""
    shown = "\n".join(f"[{m.role}] {_message_text(m)}" for m in request)
    parts = [JUDGE_INSTRUCTIONS, f"Request:\n<<<\n{shown}\n>>>"]
    parts += [f"Answer {i}:\n<<<\n{a.text}\n>>>" for i, a in enumerate(answers, start=1)]
    parts.append(f"Which answer is best? Reply with one number from 1 to {len(answers)}.")
    return [ChatMessage(role="user", content="\n\n".join(parts))]


def _message_text(message: ChatMessage) -> str:
    text = message.text
    if message.images:
        text += f" [{len(message.images)} image(s) not shown]"
    for call in message.tool_calls:
        text += f"\n(tool call {call.name} {orjson.dumps(call.arguments).decode()})"
    return text


_BARE = re.compile(r"^\W*(\d+)\W*$")
_BEST = re.compile(r"\bbest\b[^0-9\n]{0,40}?(?:answer|#|number|no\.?|option)?\s*#?\s*(\d+)")
_NAMED = re.compile(r"(?:\b(?:answer|option|candidate|response|number|no\.?)\s*#?\s*|#\s*)(\d+)")
_ANY = re.compile(r"(?<![\d.])(\d+)(?!\d)(?!\.\d)")


def parse_judge_pick(reply: str, count: int) -> int | None:
    """The 0-based index the judge picked, or None when its reply names no single answer.

    Read in order, the first rule that gives a number wins: the whole reply is a number
    (``"2"``, ``"**2**"``); a "best ... N" phrase (``"The best is #2"``); exactly one
    answer named as ``answer N`` / ``#N`` / ``option N``; exactly one number in the reply.
    A number outside 1..count, or several different ones, is no pick.
    """
    text = unicodedata.normalize("NFKC", reply).casefold().strip()
    for rule in (_BARE, _BEST):
        found = rule.search(text)
        if found is not None:
            return _in_range(int(found.group(1)), count)
    for rule in (_NAMED, _ANY):
        numbers = {int(n) for n in rule.findall(text)}
        if len(numbers) == 1:
            return _in_range(numbers.pop(), count)
        if len(numbers) > 1:
            return None
    return None


def _in_range(number: int, count: int) -> int | None:
    return number - 1 if 1 <= number <= count else None


def judged(answers: Sequence[Answer], reply: str | None, min_agree: int, failure: str = "") -> Pick:
    """The judge's pick among ``answers`` (model order), from its ``reply``; None with
    ``failure`` (the error kind) when the judge call failed. Either way, without a
    readable pick the majority rule picks, flagged undecided."""
    index = parse_judge_pick(reply, len(answers)) if reply is not None else None
    if index is not None:
        return Pick(index, agreeing(answers, index), True)
    if reply is None:
        why = f"the judge call failed ({failure or 'error'})"
    else:
        why = f"the judge's reply names no single answer ({_quote(reply)})"
    fallback = majority(answers, min_agree)
    note = f"{why}: majority used" + (f"; {fallback.note}" if fallback.note else "")
    return Pick(fallback.index, fallback.agreed, False, note)


def _quote(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")


def distinct_answers(answers: Sequence[Answer]) -> int:
    """How many different normalized answers there are (empty ones count as one each)."""
    keys = [normalize_answer(a.text) or f"\0{i}" for i, a in enumerate(answers)]
    return len(set(keys))
