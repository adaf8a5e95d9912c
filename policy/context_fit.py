"""Does a request fit its models' context windows, and if not, what the route's policy
does about it (``routes[].context``, :mod:`schemas.context`). Pure: no I/O, no clock.

A model holds a request when ``with_margin(estimate) + max_tokens <= context_window``: the
estimate is for the model's tokenizer family (:mod:`policy.context_count`, each base
encoding counted once per request), the margin the route's for that family or the one
measured in :mod:`policy.tokens`, ``max_tokens`` the request's or
``admission.default_max_tokens``. The budget estimate (:mod:`policy.estimate`) is left as
it is: a budget wants a figure that errs high, while a window decision taken on one would
move or trim requests that fit.

:func:`decide` takes the candidates in the strategy's order. A model of the chain that
cannot hold the request (as sent on) is always left out: calling it would only fail. Then:

- the first choice holds it: nothing to record;
- ``move``: the next model of the chain that holds it goes first, the path a failed call
  would have taken, minus the call; none does: ``when_none_fit`` (``fit`` to the roomiest
  model, or ``reject``);
- ``fit``: the first choice keeps it, fitted by the configured steps: ``drop_oldest``
  drops whole turns (a user message and the replies, tool calls and tool results after it)
  oldest first, never a system message nor the last ``keep_last_turns`` turns;
  ``truncate_middle`` cuts the middle of the longest message left (system prompts
  excepted), keeping its start and end;
- ``reject``, or a fit that cannot get under the window: :class:`TooLong`, whose figures
  become the ``context_too_long`` dead letter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from policy.context_count import (
    EXTRAPOLATION_MARGIN,
    Counts,
    ceiling,
    check,
    count_request,
    message_shares,
    padded,
    text_share,
)
from policy.estimate import output_tokens
from policy.tokens import FAMILIES, Family, family_for, with_margin
from schemas.chat import ChatMessage, TextPart
from schemas.config import GatewayConfig
from schemas.context import (
    DEFAULT_POLICY,
    ContextAction,
    ContextPolicy,
    ContextRecord,
    FitConfig,
)
from schemas.events import LLMRequest

CUT_MARKER = "\n\n[... the middle of this message was cut to fit the context window ...]\n\n"
# Cuts tried on one request at most: a cut aims from an estimate, and a text denser at its
# middle than on average can need a second.
_MAX_CUTS = 8
# A cut takes this much more than the estimate says, so that one usually suffices.
_CUT_SLACK = 1.05


@dataclass(frozen=True)
class Seat:
    """What a model offers a request: its window, and how its tokens are estimated."""

    model: str
    family: Family
    window: int
    margin: float


@cache
def _family(provider_format: str, upstream: str) -> Family:
    return family_for(provider_format, upstream)


def seats(models: Sequence[str], config: GatewayConfig, policy: ContextPolicy) -> list[Seat]:
    """``models``' seats (configured models only, in order)."""
    out = []
    for name in models:
        model = config.models.get(name)
        if model is None:
            continue
        family = _family(config.providers[model.provider].format, model.upstream)
        margin = policy.margins.get(family.value, FAMILIES[family].margin)
        out.append(Seat(name, family, model.context_window, margin))
    return out


def check_for(config: GatewayConfig) -> None:
    """Check the rank file of every encoding the configured models need (a worker does it
    at start-up). The encodings themselves (~70 MB for both, about 0.5 s each) are built
    on the first request whose ceiling comes near a window."""
    check(s.family for s in seats(list(config.models), config, DEFAULT_POLICY))


@dataclass(frozen=True)
class Fitted:
    """The chain to try (first choice first) and the request to send: ``request`` itself
    unless fitted. ``record`` is None when the first choice held it as sent."""

    candidates: list[str]
    request: LLMRequest
    record: ContextRecord | None = None


@dataclass(frozen=True)
class TooLong:
    detail: str
    record: ContextRecord


@dataclass
class _Draft:
    """A request being fitted: which messages stay, with their estimates per family."""

    messages: list[ChatMessage]
    counts: Counts
    kept: list[int] = field(default_factory=list)
    shares: dict[Family, list[int]] = field(default_factory=dict)
    sampled: set[int] = field(default_factory=set)
    turns_dropped: int = 0
    messages_dropped: int = 0
    cut: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.kept = list(range(len(self.messages)))
        self.shares = {f: list(s) for f, s in self.counts.shares.items()}
        self.sampled = set(self.counts.sampled)

    def total(self, family: Family) -> int:
        shares = self.shares[family]
        return self.counts.fixed[family] + sum(shares[i] for i in self.kept)

    def padded(self, family: Family) -> int:
        """The total a decision is taken on (see :func:`policy.context_count.padded`)."""
        shares = self.shares[family]
        return padded(self.total(family), sum(shares[i] for i in self.kept if i in self.sampled))

    @property
    def extrapolated(self) -> bool:
        return any(i in self.sampled for i in self.kept)

    def replace(self, i: int, message: ChatMessage) -> None:
        shares, sampled = message_shares([message], list(self.shares))
        self.messages[i] = message
        for family, share in shares[0].items():
            self.shares[family][i] = share
        self.sampled.discard(i)
        if sampled:
            self.sampled.add(i)
        self.cut.add(i)


def _needed(seat: Seat, draft: _Draft, out: int) -> int:
    return with_margin(draft.padded(seat.family), seat.family, seat.margin) + out


def _holds(seat: Seat, draft: _Draft, out: int) -> bool:
    return _needed(seat, draft, out) <= seat.window


def _surely_held(request: LLMRequest, chain: Sequence[Seat], out: int) -> bool:
    """Every seat holds ``request`` even by the count's ceiling: the exact count (and the
    tokenizers) would change nothing."""
    bound = ceiling(request, {s.family for s in chain})
    return bound is not None and all(
        with_margin(bound[s.family], s.family, s.margin) + out <= s.window for s in chain
    )


def _figures(seat: Seat, draft: _Draft, out: int) -> str:
    needed = _needed(seat, draft, out)
    extra = f" (part extrapolated: +{EXTRAPOLATION_MARGIN:.0%} on it)" if draft.extrapolated else ""
    return (
        f"~{draft.total(seat.family)} input tokens{extra}"
        f" +{seat.margin:.0%} margin + {out} max_tokens = {needed}"
        f" {'>' if needed > seat.window else '<='} context_window {seat.window}"
    )


def _record(
    action: ContextAction,
    seat: Seat,
    draft: _Draft,
    out: int,
    before: int,
    moved_from: str | None = None,
) -> ContextRecord:
    return ContextRecord(
        action=action,
        model=seat.model,
        moved_from=moved_from,
        family=seat.family.value,
        window=seat.window,
        max_tokens=out,
        margin=seat.margin,
        tokens_before=before,
        tokens_after=draft.total(seat.family),
        extrapolated=draft.extrapolated,
        turns_dropped=draft.turns_dropped,
        messages_dropped=draft.messages_dropped,
        messages_cut=len(draft.cut & set(draft.kept)),
    )


def turns(messages: Sequence[ChatMessage], kept: Sequence[int]) -> list[list[int]]:
    """The non-system messages among ``kept``, grouped into turns: each user message opens
    one; what comes before the first user message is a turn of its own. A tool result
    stays in the turn of the call it answers, so no provider sees one without the other."""
    groups: list[list[int]] = []
    for i in kept:
        role = messages[i].role
        if role == "system":
            continue
        if role == "user" or not groups:
            groups.append([i])
        else:
            groups[-1].append(i)
    return groups


def _drop_oldest(draft: _Draft, seat: Seat, out: int, fit: FitConfig) -> None:
    groups = turns(draft.messages, draft.kept)
    for group in groups[: max(0, len(groups) - fit.keep_last_turns)]:
        if _holds(seat, draft, out):
            return
        gone = set(group)
        draft.kept = [i for i in draft.kept if i not in gone]
        draft.turns_dropped += 1
        draft.messages_dropped += len(group)


def _input_limit(seat: Seat, out: int) -> int:
    """The most input tokens (padded) ``seat`` takes beside ``out``, before its margin."""
    room = seat.window - out
    limit = math.floor(room / (1 + seat.margin))
    while limit > 0 and with_margin(limit, seat.family, seat.margin) > room:
        limit -= 1
    return limit


def _cut_text(text: str, remove: int) -> str | None:
    """``text`` with ``remove`` characters out of its middle (at least), the marker in
    their place, each side ending at a space where one is near; None if already minimal."""
    if text == CUT_MARKER.strip() or not text:
        return None
    keep = max(0, len(text) - remove)
    head = keep // 2
    tail = keep - head
    if head:
        space = text.rfind(" ", max(0, head - 64), head)
        head = space if space > 0 else head
    start = len(text) - tail
    if tail:
        space = text.find(" ", start, start + 64)
        start = space if space >= 0 else start
    cut = text[:head] + CUT_MARKER + text[start:]
    return cut.strip() if not head and start >= len(text) else cut


def _with_text(message: ChatMessage, old: str, new: str) -> ChatMessage:
    if isinstance(message.content, str):
        return message.model_copy(update={"content": new})
    parts = list(message.content)
    at = next(k for k, p in enumerate(parts) if isinstance(p, TextPart) and p.text == old)
    parts[at] = TextPart(text=new)
    return message.model_copy(update={"content": parts})


def cuttable_text(message: ChatMessage) -> str | None:
    """The text a middle cut shortens: the string content or the longest text part."""
    if message.role == "system":
        return None
    if isinstance(message.content, str):
        return message.content or None
    parts = [p.text for p in message.content if isinstance(p, TextPart)]
    return max(parts, key=len) if parts else None


def _truncate_middle(draft: _Draft, seat: Seat, out: int) -> None:
    spent: set[int] = set()
    for _ in range(_MAX_CUTS):
        if _holds(seat, draft, out):
            return
        shares = draft.shares[seat.family]
        options = [
            i for i in draft.kept if i not in spent and cuttable_text(draft.messages[i]) is not None
        ]
        if not options:
            return
        i = max(options, key=lambda k: shares[k])
        message = draft.messages[i]
        text = cuttable_text(message) or ""
        excess = draft.padded(seat.family) - _input_limit(seat, out)
        if i in draft.sampled:  # its estimate is padded: what the cut saves is too
            excess = math.ceil(excess / (1 + EXTRAPOLATION_MARGIN))
        tokens = max(1, text_share(message, seat.family, shares[i]))
        per_token = len(text) / tokens
        remove = math.ceil((excess + len(CUT_MARKER) / 2) * per_token * _CUT_SLACK) + 1
        shorter = _cut_text(text, remove)
        if shorter is None:
            spent.add(i)
            continue
        draft.replace(i, _with_text(message, text, shorter))


def _fit(draft: _Draft, seat: Seat, out: int, fit: FitConfig) -> None:
    for step in fit.steps:
        if step == "drop_oldest":
            _drop_oldest(draft, seat, out, fit)
        else:
            _truncate_middle(draft, seat, out)


def _roomiest(chain: Sequence[Seat], draft: _Draft, out: int) -> Seat:
    """The model whose window needs the least taken off the request (first on a tie)."""

    def room(seat: Seat) -> float:
        return (seat.window - out) / max(1, _needed(seat, draft, 0))

    return max(chain, key=room)


def _too_long(why: str, seat: Seat, chain: Sequence[Seat], draft: _Draft, out: int) -> TooLong:
    before = draft.counts.total(seat.family)
    figures = "; ".join(f"{s.model}: {_figures(s, draft, out)}" for s in chain)
    return TooLong(f"{why}: {figures}", _record("rejected", seat, draft, out, before))


def decide(
    request: LLMRequest, ordered: Sequence[str], policy: ContextPolicy, config: GatewayConfig
) -> Fitted | TooLong:
    """What ``policy`` does with ``request`` on the chain ``ordered`` (first choice first)."""
    chain = seats(ordered, config, policy)
    if not chain:
        return Fitted(list(ordered), request)
    out = output_tokens(request, config.admission)
    if _surely_held(request, chain, out):
        return Fitted([s.model for s in chain], request)
    draft = _Draft(list(request.messages), count_request(request, {s.family for s in chain}))
    holding = [s.model for s in chain if _holds(s, draft, out)]
    first = chain[0]
    if holding and holding[0] == first.model:
        return Fitted(holding, request)
    if policy.on_overflow == "move" and holding:
        seat = next(s for s in chain if s.model == holding[0])
        before = draft.total(seat.family)
        return Fitted(holding, request, _record("moved", seat, draft, out, before, first.model))
    if not policy.fits:
        if policy.on_overflow == "reject":
            return _too_long("the first choice's window cannot hold it", first, chain, draft, out)
        seat = _roomiest(chain, draft, out)
        return _too_long("no model of the chain can hold it", seat, chain, draft, out)
    seat = first if policy.on_overflow == "fit" else _roomiest(chain, draft, out)
    before = draft.total(seat.family)
    _fit(draft, seat, out, policy.fit)
    if not _holds(seat, draft, out):
        return _too_long(f"it does not fit {seat.model} even fitted", seat, chain, draft, out)
    fitted = request.model_copy(update={"messages": [draft.messages[i] for i in draft.kept]})
    rest = [s.model for s in chain if s.model != seat.model and _holds(s, draft, out)]
    return Fitted([seat.model, *rest], fitted, _record("fitted", seat, draft, out, before))


def window_misfits(
    models: Sequence[str],
    request: LLMRequest,
    config: GatewayConfig,
    policy: ContextPolicy = DEFAULT_POLICY,
) -> dict[str, str]:
    """Why each of ``models`` whose window cannot hold ``request`` as sent cannot."""
    chain = seats(models, config, policy)
    if not chain:
        return {}
    out = output_tokens(request, config.admission)
    if _surely_held(request, chain, out):
        return {}
    draft = _Draft(list(request.messages), count_request(request, {s.family for s in chain}))
    return {s.model: _figures(s, draft, out) for s in chain if not _holds(s, draft, out)}
