"""Whether a cached prompt may answer a new one: embedding similarity, then a lexical check.

The router's static encoder (policy/text_encoder.py) averages token rows, so it cannot see
word order ("convert 5 km to miles" and "convert 5 miles to km" embed identically), and
a distributional table puts antonyms and rivals next to synonyms ("python"/"javascript",
"largest"/"smallest" sit as close as "height"/"tall"). A near neighbour is therefore only a
candidate; :func:`verify` accepts it when the two prompts say the same things in the same
roles, and only the framing may differ ("How do I …" / "What's the way to …" / "Define …").

The check reads each prompt into a :class:`Reading` (:func:`read`, ~12 µs for a short
prompt; re-reading the few candidates at lookup is cheaper in memory than keeping a
Reading, ~0.9 KB of Python objects, per cached entry):

- **numbers**: digits, number words and ordinals, in order ("10th", "ten", "10" alike);
  the two sequences must be equal: another number, or the same numbers swapped, is
  another question;
- **negations**: not, no, never, without, ... (``n't`` and ``cannot`` expanded); the
  counts must be equal;
- **question words** naming the answer (who, when, where, why; not a relative "whose")
  must be the same, and so must the tense when both mark it ("Who is" / "Who was");
- **content words**: what is left after function and framing words (:data:`STOP_WORDS`),
  stemmed lightly, unit abbreviations spelled out, operators and words of any script
  kept. Both sets must be equal (a substituted word is taken as another meaning, since
  the table cannot tell a synonym from a rival), and the shared words, numbers included,
  must keep their order, up to moving one end block to the other end ("In CSS, how do I
  centre a div" / "How do I centre a div in CSS"; "How many miles is 5 km" / "5 km to
  miles"). A transposition ("miles to km" / "km to miles") is not such a move: refused.
  A prompt with no content word is compared whole.

**The threshold** (benchmarks/semantic_eval.py on benchmarks/semantic_pairs.py): with the
check, no near-miss or other-question pair is accepted at any cosine from 0.30 up, so the
threshold only trades recall; :data:`DEFAULT_THRESHOLD` is the highest cosine that keeps
every verified paraphrase of the set (93 of 167), rounded down to 0.05, which keeps the
candidates the check must reject as few as that recall allows. Pure functions only.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

DEFAULT_THRESHOLD = 0.55
"""Cosine of the static embeddings at or above which a verified pair is a hit (see the
module docstring and benchmarks/semantic_eval.py for how it was set)."""


def _words(text: str) -> list[str]:
    return text.split()


NEGATIONS = frozenset(
    {"not", "no", "never", "none", "nothing", "nobody", "nowhere", "neither", "nor", "without"}
)

ASKS = {"who": "who", "whom": "who", "whose": "who", "when": "when", "where": "where", "why": "why"}
"""Question words that name what the answer is (a person, a time, a place, a reason); "what",
"which" and "how" are left out: they frame most questions and paraphrase one another."""

TENSES = {
    **dict.fromkeys(_words("was were did had"), "past"),
    **dict.fromkeys(_words("is are am does do has have"), "present"),
    **dict.fromkeys(_words("will shall"), "future"),
}
"""Auxiliaries that mark tense: "Who is the CEO" and "Who was the CEO" ask different things."""

STOP_WORDS = frozenset(
    _words(
        # articles, pronouns, auxiliaries and question words (compared as ASKS and TENSES)
        "a an the this that these those it its i me my we our you your he she they them their"
        " is are was were be been being am do does did doing done can could would should will"
        " shall may might must have has had having what which who whom whose when where why how"
        # prepositions that carry no contrast of their own; "from" does ("flights from Paris" /
        # "flights to Paris"), and the order check sees where the others' objects went
        " of in on at for with by to into onto as about via using per there here"
        # conjunctions and fillers
        " and or but if whether so then just also any very really"
        # how a request is framed rather than what it asks
        " please tell explain describe define definition meaning mean means way ways step steps"
        " best right give show help want need know find get make let like many much"
        " calculate compute solve determine convert express write compose create generate"
        " suggest recommend say translate word term phrase located location"
    )
)

_UNITS = {
    "km": "kilometer",
    "kms": "kilometer",
    "kg": "kilogram",
    "kgs": "kilogram",
    "g": "gram",
    "lb": "pound",
    "lbs": "pound",
    "oz": "ounce",
    "cm": "centimeter",
    "mm": "millimeter",
    "mi": "mile",
    "ft": "foot",
    "feet": "foot",
    "ml": "milliliter",
    "kb": "kilobyte",
    "mb": "megabyte",
    "gb": "gigabyte",
    "mph": "mile hour",
    "km/h": "kilometer hour",
    "kph": "kilometer hour",
    "degree": "",
    "degrees": "",
    "°c": "celsius",
    "°f": "fahrenheit",
    "%": "percent",
    "metre": "meter",
    "metres": "meter",
    "litre": "liter",
    "litres": "liter",
    "centre": "center",
}

_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        _words(
            "zero one two three four five six seven eight nine ten eleven twelve thirteen"
            " fourteen fifteen sixteen seventeen eighteen nineteen twenty"
        )
    )
}
_NUMBER_WORDS.update(
    {
        w: str(10 * (i + 3))
        for i, w in enumerate(_words("thirty forty fifty sixty seventy eighty ninety"))
    }
)
_NUMBER_WORDS.update({"hundred": "100", "thousand": "1000", "million": "1000000", "half": "0.5"})
_ORDINALS = {
    w: str(i + 1)
    for i, w in enumerate(
        _words("first second third fourth fifth sixth seventh eighth ninth tenth")
    )
}

_CONTRACTIONS = (
    (re.compile(r"\bcan'?t\b|\bcannot\b"), "can not"),
    (re.compile(r"\bwon'?t\b"), "will not"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"'(s|re|ve|ll|d|m)\b"), " "),
)
_TOKEN = re.compile(
    r"\d+(?:[.,]\d+)*"  # a number (thousands commas dropped later)
    r"|°[cf]\b|km/h"  # units written with a sign
    r"|[^\W\d_]\w*(?:\.\w+|[+#]+)*"  # a word in any script; c++, c#, node.js
    r"|[%+\-*/=<>^]"  # an operator: "10 - 3" and "10 + 3" are other questions
)
_WORD_HYPHEN = re.compile(r"(?<=[^\W\d_])-(?=[^\W\d_])")  # "jump-start" is "jump start"
_ORDINAL_SUFFIX = re.compile(r"(\d)(?:st|nd|rd|th)\b")


@dataclass(frozen=True)
class Reading:
    """What :func:`verify` compares of a prompt."""

    numbers: tuple[str, ...]
    negations: int
    asks: frozenset[str]  # values of ASKS
    tenses: frozenset[str]  # values of TENSES
    words: tuple[str, ...]  # content words and numbers, stemmed, in order


def stem(word: str) -> str:
    """A light suffix stripper: enough to match plurals and -ing/-ed forms of one word."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix, keep in (("ing", 4), ("ed", 3)):
        if word.endswith(suffix) and len(word) - len(suffix) >= keep:
            word = word[: -len(suffix)]
            break
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    return word


def _number(token: str) -> str:
    """One spelling per value: "200,000" and "200000", "2.50" and "2.5", "07" and "7"."""
    whole, _, fraction = token.replace(",", "").partition(".")
    whole = whole.lstrip("0") or "0"
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


def read(text: str) -> Reading:
    """The numbers, negations and content words of ``text``."""
    lowered = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")
    for pattern, replacement in _CONTRACTIONS:
        lowered = pattern.sub(replacement, lowered)
    lowered = _WORD_HYPHEN.sub(" ", _ORDINAL_SUFFIX.sub(r"\1", lowered))
    numbers: list[str] = []
    negations = 0
    asks: set[str] = set()
    tenses: set[str] = set()
    words: list[str] = []
    previous = ""
    for raw in _TOKEN.findall(lowered):
        # "a circle whose radius", "the city where": after a content word it is a relative
        # pronoun, not the question's.
        if raw in ASKS and (previous in STOP_WORDS or not previous):
            asks.add(ASKS[raw])
        previous = raw
        if raw in TENSES:
            tenses.add(TENSES[raw])
        if raw[0].isdigit():
            numbers.append(_number(raw))
            words.append(numbers[-1])
            continue
        value = _NUMBER_WORDS.get(raw) or _ORDINALS.get(raw)
        if value is not None:
            numbers.append(value)
            words.append(value)
            continue
        if raw in NEGATIONS:
            negations += 1
            continue
        for token in _UNITS.get(raw, raw).split():
            if token not in STOP_WORDS:
                words.append(stem(token))
    if not words:
        # Nothing but framing ("Who are you?" / "Who am I?"): compare it all, function
        # words included, since there is no content to vouch for the rest.
        words = [t for t in _TOKEN.findall(lowered) if t not in NEGATIONS]
    return Reading(tuple(numbers), negations, frozenset(asks), frozenset(tenses), tuple(words))


def _once(words: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    for word in words:
        seen[word] = seen.get(word, 0) + 1
    return [w for w in words if seen[w] == 1]


def same_order(a: Sequence[str], b: Sequence[str]) -> bool:
    """Whether the words both sequences hold once keep their order, allowing one end
    block moved to the other end (a rotation) when at least three words are shared: a
    rotation of two words is their transposition, which swaps roles."""
    shared = set(_once(a)) & set(_once(b))
    x = [w for w in _once(a) if w in shared]
    y = [w for w in _once(b) if w in shared]
    if x == y:
        return True
    return len(x) >= 3 and any(x[k:] + x[:k] == y for k in range(1, len(x)))


def verify(a: Reading, b: Reading) -> str | None:
    """Why ``a`` and ``b`` are not the same question, or None when nothing says so."""
    if a.numbers != b.numbers:
        return "numbers differ"
    if a.negations != b.negations:
        return "negation differs"
    if a.asks != b.asks:
        return "question word differs"
    if a.tenses and b.tenses and a.tenses != b.tenses:
        return "tense differs"
    if set(a.words) != set(b.words):
        return "content words differ"
    if not same_order(a.words, b.words):
        return "word order differs"
    return None


def cosine(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """Of two L2-normalized rows (the encoder's output)."""
    return float(np.dot(a, b))


def is_hit(
    similarity: float, cached: Reading, new: Reading, threshold: float = DEFAULT_THRESHOLD
) -> bool:
    """The semantic cache's decision for a candidate the index returned."""
    return similarity >= threshold and verify(cached, new) is None
