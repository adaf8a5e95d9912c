"""A request's input tokens per message and tokenizer family, in time bounded by a
constant rather than by the prompt's size.

Exact counts come from :func:`policy.tokens.estimate_for_families` (one pass per base
encoding). Counting is linear in the text, and a 900 KB prompt costs 45-200 ms per base
encoding (measured: English prose 45 ms, code 150 ms, 900 KB of spaces or random letters
170-200 ms; benchmarks/request_policies.py), which would hold the triage loop that long.
So the newest messages are counted exactly up to :data:`EXACT_CHARS` characters of text in
all, and the text of the rest (the older turns, or one message too long for what is left
of that allowance) is estimated from :data:`SAMPLE_WINDOWS` windows of
:data:`WINDOW_CHARS` characters spread evenly over it: each class of token counted in the
windows, scaled by the text's length. Counting is then at most about 96 K characters per
base encoding, whatever the request's size.

Why newest first: fitting a conversation drops the oldest turns, so the turns that stay
are those counted exactly. A sample errs when the text is uneven at a finer grain than the
windows' spacing (a dense stretch of CJK between two windows of English is missed):
measured on 900 KB mixed prompts of benchmarks/token_corpus.py the extrapolated count is
within 4 % of the exact one on average and 7.5 % under it at worst, so a decision adds
:data:`EXTRAPOLATION_MARGIN` to the extrapolated part before the family's margin. An
estimate still too low costs what it cost before this policy: the provider refuses the
call, and dispatch falls back.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate

from policy.encodings import (
    CLASS_COUNT,
    EncodingName,
    check_rank_file,
    count_classes,
    encoding,
)
from policy.tokens import FAMILIES, Family, estimate_for_families
from schemas.chat import ChatMessage, ImagePart
from schemas.events import LLMRequest

# Measured (benchmarks/request_policies.py): counting costs 0.05-0.2 us per character and
# base encoding, so these bound a request's count near 96 K characters per encoding
# (5-20 ms), and leave a conversation of 60 long turns exact. On twelve 900 KB mixed
# prompts 32 windows of 1 KB came within 4.2 % of the exact count on average, 7.5 % under
# and 11 % over at worst; 48 windows were no closer.
EXACT_CHARS = 65_536
SAMPLE_WINDOWS = 32
WINDOW_CHARS = 1024
EXTRAPOLATION_MARGIN = 0.15
"""Added to the extrapolated part of an estimate before a decision is taken on it."""

# A window's edges move to the next lone space within this many characters, so that no
# word is split in two (which would count an extra token at each edge).
_SNAP_CHARS = 64

ClassCounts = tuple[float, ...]


@dataclass(frozen=True)
class Counts:
    """A request's estimated input tokens, per family: each message's share (its text,
    tool calls, images, per-message overhead) and what the request adds once (the reply's
    priming, tools, a response schema). Without a sample, ``total`` equals
    :func:`policy.tokens.estimate_for_families`."""

    shares: Mapping[Family, tuple[int, ...]]
    fixed: Mapping[Family, int]
    sampled: frozenset[int]
    """Messages whose text was estimated from a sample."""

    def total(self, family: Family, keep: Iterable[int] | None = None) -> int:
        """The request's estimate, or that of the messages ``keep`` alone."""
        shares = self.shares[family]
        kept = shares if keep is None else (shares[i] for i in keep)
        return self.fixed[family] + sum(kept)

    def padded(self, family: Family) -> int:
        """:meth:`total` with :data:`EXTRAPOLATION_MARGIN` on the sampled messages' part:
        the figure a decision is taken on."""
        return padded(self.total(family), sum(self.shares[family][i] for i in self.sampled))

    @property
    def extrapolated(self) -> bool:
        return bool(self.sampled)


def padded(total: int, sampled_part: int) -> int:
    """An estimate ``total`` of which ``sampled_part`` was extrapolated, raised by
    :data:`EXTRAPOLATION_MARGIN` on that part."""
    return total + math.ceil(sampled_part * EXTRAPOLATION_MARGIN)


def preload(families: Iterable[Family]) -> None:
    """Build the base encodings ``families`` need now (about 0.5 s each), not on the first
    request that needs them."""
    for name in sorted({FAMILIES[f].encoding for f in families}):
        encoding(name)


def check(families: Iterable[Family]) -> None:
    """Fail now if a base encoding ``families`` need could not be built when a request
    comes near a window (:func:`ceiling` settles the others without it)."""
    for name in sorted({FAMILIES[f].encoding for f in families}):
        check_rank_file(name)


def _no_text(message: ChatMessage) -> ChatMessage:
    """``message`` without its text: tool calls, tool_call_id and images stay, so an exact
    estimate of it is everything but the text. Not validated: an empty message is fine
    here, and only here."""
    if isinstance(message.content, str):
        return message.model_copy(update={"content": ""})
    images = [p for p in message.content if isinstance(p, ImagePart)]
    return message.model_copy(update={"content": images})


def _exact_share(message: ChatMessage, families: Sequence[Family]) -> dict[Family, int]:
    one = estimate_for_families([message], families)
    return {f: one[f] - FAMILIES[f].per_request for f in families}


def _fixed(request: LLMRequest, families: Sequence[Family]) -> dict[Family, int]:
    per_request = {f: FAMILIES[f].per_request for f in families}
    if not request.tools and (
        request.response_format is None or request.response_format.json_schema is None
    ):
        return per_request
    # Tools and the schema, counted as policy.tokens counts them: the same request around
    # one short probe message, less that message's share.
    probe = ChatMessage(role="user", content=".")
    around = estimate_for_families(request.model_copy(update={"messages": [probe]}), families)
    alone = _exact_share(probe, families)
    return {f: around[f] - alone[f] for f in families}


def _snap(text: str, at: int) -> int:
    """``at``, or the next lone space within reach: a cut there splits no word."""
    found = text.find(" ", at, at + _SNAP_CHARS)
    return at if found < 0 else found


def _windows(lengths: Sequence[int], windows: int) -> list[tuple[int, int, int]]:
    """``windows`` spans (text index, start, end) centred on evenly spaced points of the
    texts laid end to end: a text gets windows in proportion to its length, at least one
    if it is longer than the spacing."""
    ends = list(accumulate(lengths))
    total = ends[-1] if ends else 0
    spans: list[tuple[int, int, int]] = []
    if total == 0:
        return spans
    step = total / windows
    for k in range(windows):
        point = int((k + 0.5) * step)
        i = bisect.bisect_right(ends, point)
        offset = point - (ends[i] - lengths[i])
        start = max(0, offset - WINDOW_CHARS // 2)
        spans.append((i, start, min(lengths[i], start + WINDOW_CHARS)))
    return spans


def _sampled_classes(texts: Sequence[str], name: EncodingName) -> list[ClassCounts]:
    """Each text's token classes under ``name``, extrapolated from windows over them all;
    a text no window fell in takes the density of all the windows together."""
    seen = [[0] * CLASS_COUNT for _ in texts]
    chars = [0] * len(texts)
    for i, start, end in _windows([len(t) for t in texts], SAMPLE_WINDOWS):
        text = texts[i]
        lo = _snap(text, start) if start else 0
        hi = _snap(text, end) if end < len(text) else end
        if hi <= lo:
            continue
        for cls, n in enumerate(count_classes(text[lo:hi], name)):
            seen[i][cls] += n
        chars[i] += hi - lo
    pooled_chars = sum(chars)
    pooled = [sum(column) for column in zip(*seen, strict=True)]
    out: list[ClassCounts] = []
    for text, counts, n in zip(texts, seen, chars, strict=True):
        basis, basis_chars = (counts, n) if n else (pooled, pooled_chars)
        scale = len(text) / basis_chars if basis_chars else 0.0
        out.append(tuple(c * scale for c in basis))
    return out


def _weighed(classes: ClassCounts, family: Family) -> int:
    weights = FAMILIES[family].weights
    return math.ceil(sum(w * n for w, n in zip(weights, classes, strict=True)))


def _sampled_shares(
    messages: Sequence[ChatMessage], families: Sequence[Family]
) -> list[dict[Family, int]]:
    texts = [m.text for m in messages]
    by_encoding = {
        name: _sampled_classes(texts, name) for name in {FAMILIES[f].encoding for f in families}
    }
    shares = []
    for j, message in enumerate(messages):
        rest = _exact_share(_no_text(message), families)
        shares.append(
            {f: rest[f] + _weighed(by_encoding[FAMILIES[f].encoding][j], f) for f in families}
        )
    return shares


def message_shares(
    messages: Sequence[ChatMessage], families: Sequence[Family], exact_chars: int = EXACT_CHARS
) -> tuple[list[dict[Family, int]], frozenset[int]]:
    """Each message's share per family, and which were estimated from a sample: the newest
    are counted exactly while their text fits in ``exact_chars`` characters in all."""
    left = exact_chars
    exact: list[int] = []
    sampled: list[int] = []
    for i in range(len(messages) - 1, -1, -1):
        size = len(messages[i].text)
        if size <= left:
            left -= size
            exact.append(i)
        else:
            sampled.append(i)
    shares: list[dict[Family, int]] = [{} for _ in messages]
    for i in exact:
        shares[i] = _exact_share(messages[i], families)
    sampled.sort()
    estimated = _sampled_shares([messages[i] for i in sampled], families)
    for i, share in zip(sampled, estimated, strict=True):
        shares[i] = share
    return shares, frozenset(sampled)


def count_request(request: LLMRequest, families: Iterable[Family]) -> Counts:
    """``request``'s estimate per family (each base encoding counted once)."""
    chosen = list(dict.fromkeys(families))
    shares, sampled = message_shares(request.messages, chosen)
    return Counts(
        shares={f: tuple(s[f] for s in shares) for f in chosen},
        fixed=_fixed(request, chosen),
        sampled=sampled,
    )


def text_share(message: ChatMessage, family: Family, share: int) -> int:
    """How much of ``message``'s ``share`` (under ``family``) is its text."""
    return share - _exact_share(_no_text(message), [family])[family]


def ceiling(request: LLMRequest, families: Iterable[Family]) -> dict[Family, int] | None:
    """An upper bound on :func:`count_request`'s total per family that runs no tokenizer,
    or None for a request it does not cover (images, tools, tool calls, a response schema,
    or more text than is counted exactly).

    A byte-level BPE token spells at least one UTF-8 byte, so a text's base count is at most
    its byte length, and a weighed family's estimate at most that times its largest class
    weight. Most requests are far shorter than their models' windows: this settles them
    without the encodings (issue 15: the window decision was ~3 % of a worker's CPU, and the
    two base encodings ~70 MB of its memory, now built only for a request near a window).
    """
    if request.tools or (request.response_format and request.response_format.json_schema):
        return None
    sizes = []
    chars = 0
    for message in request.messages:
        if message.tool_calls or message.images:
            return None
        text = message.text
        chars += len(text)
        sizes.append(len(text.encode("utf-8")) + len((message.tool_call_id or "").encode()))
    if chars > EXACT_CHARS:
        return None
    out: dict[Family, int] = {}
    for family in families:
        spec = FAMILIES[family]
        most = max(spec.weights)
        out[family] = (
            sum(math.ceil(most * size) for size in sizes)
            + spec.per_message * len(sizes)
            + (spec.per_request if sizes else 0)
        )
    return out
