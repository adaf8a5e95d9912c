"""A request's input tokens per model family, before the call, from tokenizers that ship
in packages (nothing is downloaded at run time).

OpenAI's families are counted exactly with OpenAI's own encodings (:mod:`policy.encodings`).
The other families get no tokenizer of their own at run time: Mistral's ships in
mistral-common (which pins numpy below 2.4), Meta's Llama 3 file in llama-models (under
Meta's licence, with a hub client among its dependencies), and Claude's, Gemini's and
Cohere's are not published for offline use. Their estimate weighs the o200k_base (for
Llama 3: cl100k_base) count per token class instead: words, punctuation, whitespace,
digits, Han/kana, Hangul and other scripts each map to the family's tokenizer at a ratio
of their own (Mistral's tokenizers spell digits one by one; Claude's splits Korean and
accented text much finer). The ratios were fitted, and the errors measured, against the
real tokenizers where a package ships one (benchmarks/token_estimate.py; figures in each
:class:`FamilySpec`). :func:`with_margin` adds the family's safety margin, enough to lift
every measured under-estimate, for a decision such as "does it fit the window".

A chat adds tokens of its own per message (role markers, separators) and per request
(the priming of the reply); tools add their JSON text, and Claude a tool-use system prompt
of 346 tokens (Anthropic's documented figure); images cost what
:mod:`policy.image_tokens` says for the family.

Replacing the rough estimate in :mod:`policy.estimate` (UTF-8 bytes / ``bytes_per_token``,
one figure for every model): ``strategy.misfits`` would check each candidate's window
against ``with_margin(estimates[family], family) + max_tokens``, with ``estimates =
estimate_for_families(request, {family_for(provider.format, model.upstream) for each
candidate})``, which counts the text once per base encoding; ``cost_estimate`` would price
each candidate at its own family's estimate, keeping the dearest. ``Family.DEFAULT`` serves
a model whose tokenizer is unknown, not the budget as a whole: it overestimates English
for OpenAI's models by about two thirds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from adapters import json_body
from policy.encodings import CLASS_COUNT, EncodingName, count, count_classes
from policy.image_tokens import ImageRule, image_size, image_tokens
from schemas.chat import ChatMessage, ResponseFormat, ToolSpec
from schemas.events import LLMRequest


class Family(StrEnum):
    OPENAI = "openai-o200k"
    OPENAI_CL100K = "openai-cl100k"
    ANTHROPIC = "anthropic"
    ANTHROPIC_47 = "anthropic-4.7"
    MISTRAL = "mistral-tekken"
    MISTRAL_SPM = "mistral-spm"
    LLAMA = "llama3"
    GEMINI = "gemini"
    COHERE = "cohere"
    DEFAULT = "default"


# Weights per encodings.TokenClass: WORD, PUNCT, SPACE, DIGIT, HAN_KANA, HANGUL, OTHER.
Weights = tuple[float, float, float, float, float, float, float]
EXACT: Weights = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)


@dataclass(frozen=True)
class FamilySpec:
    encoding: EncodingName
    weights: Weights
    per_message: int
    per_request: int
    tools_overhead: int
    images: ImageRule
    margin: float
    """Relative: with_margin() returns ceil(estimate * (1 + margin))."""
    reference: str
    """What the weights and margin were measured against, and how close that is to billing."""


# Filled from `benchmarks/token_estimate.py --fit` (least squares on relative error over
# the corpus); margins from its error table. See that script's docstring for the figures.
_TEKKEN: Weights = (0.987, 1.015, 1.012, 1.977, 1.185, 1.027, 1.28)
_SPM: Weights = (1.097, 1.182, 1.171, 1.911, 1.572, 2.23, 1.887)
_LLAMA3: Weights = (1.008, 0.99, 0.995, 0.998, 0.676, 0.624, 0.723)
_CLAUDE3: Weights = (1.135, 0.928, 1.521, 1.113, 1.351, 2.185, 1.997)
_CLAUDE47: Weights = (1.672, 1.159, 1.072, 0.873, 1.354, 2.166, 1.939)


def _envelope(*families: Weights) -> Weights:
    a, b, c, d, e, f, g = (max(column) for column in zip(*families, strict=True))
    return (a, b, c, d, e, f, g)


# For a model whose tokenizer is not known: no measured o200k-based family counts more in
# any class (Llama 3's weights are on cl100k_base, and below these).
_ENVELOPE = _envelope(_TEKKEN, _SPM, _CLAUDE3, _CLAUDE47)

# Margins: what lifts every measured request of 100 tokens or more to its reference count,
# rounded up to 0.05 ("need" in benchmarks/token_estimate.py --min-tokens 100). The worst
# cases are German and Korean text for Claude; 95 % of requests need under a fifth of it.
FAMILIES: Mapping[Family, FamilySpec] = MappingProxyType(
    {
        Family.OPENAI: FamilySpec(
            encoding="o200k_base",
            weights=EXACT,
            per_message=3,
            per_request=3,
            tools_overhead=0,
            images="openai_tiles",
            margin=0.02,
            reference="exact text (OpenAI's o200k_base ranks, SHA-256 checked); the chat"
            " overhead is OpenAI's documented 3 per message + 3, tools are counted as JSON",
        ),
        Family.OPENAI_CL100K: FamilySpec(
            encoding="cl100k_base",
            weights=EXACT,
            per_message=3,
            per_request=3,
            tools_overhead=0,
            images="openai_tiles",
            margin=0.02,
            reference="exact text (OpenAI's cl100k_base ranks, SHA-256 checked)",
        ),
        Family.ANTHROPIC: FamilySpec(
            encoding="o200k_base",
            weights=_CLAUDE3,
            per_message=4,
            per_request=3,
            tools_overhead=346,
            images="anthropic_area",
            margin=0.45,
            reference="ctok 1.3.0 v3 (Claude 3 to Opus 4.6), a reconstruction its authors"
            " report exact on recorded count_tokens; mean error 4.6 %, p95 14 %, worst under"
            " 29.5 % (German, Korean); 7 tokens per one-message request, the split assumed",
        ),
        Family.ANTHROPIC_47: FamilySpec(
            encoding="o200k_base",
            weights=_CLAUDE47,
            per_message=4,
            per_request=7,
            tools_overhead=346,
            images="anthropic_area",
            margin=0.50,
            reference="ctok 1.3.0 v4.7 (Opus 4.7 and later); mean error 5.6 %, p95 15 %,"
            " worst under 31.1 %; 11 tokens per one-message request",
        ),
        Family.MISTRAL: FamilySpec(
            encoding="o200k_base",
            weights=_TEKKEN,
            per_message=2,
            per_request=2,
            tools_overhead=0,
            images="pixtral_patches",
            margin=0.20,
            reference="mistral-common 1.13.1 Tekken (tekken_240911: NeMo, Pixtral,"
            " Ministral; later Tekken vocabularies are not bundled) and its chat encoding;"
            " mean error 3.9 %, p95 11 %, worst under 14.7 %",
        ),
        Family.MISTRAL_SPM: FamilySpec(
            encoding="o200k_base",
            weights=_SPM,
            per_message=2,
            per_request=2,
            tools_overhead=0,
            images="pixtral_patches",
            margin=0.35,
            reference="mistral-common 1.13.1 SentencePiece v7 (Mistral Large 2411) and its"
            " chat encoding; mean error 4.8 %, p95 12 %, worst under 23.8 %",
        ),
        Family.LLAMA: FamilySpec(
            encoding="cl100k_base",
            weights=_LLAMA3,
            per_message=5,
            per_request=5,
            tools_overhead=0,
            images="max",
            margin=0.10,
            reference="llama-models 0.3.0 (Meta's Llama 3 tokenizer.model and chat format);"
            " mean error 1.0 %, p95 4 %, worst under 7.3 %",
        ),
        Family.GEMINI: FamilySpec(
            encoding="o200k_base",
            weights=_ENVELOPE,
            per_message=6,
            per_request=11,
            tools_overhead=346,
            images="gemini_tiles",
            margin=0.50,
            reference="not measured (no tokenizer ships offline): the measured envelope",
        ),
        Family.COHERE: FamilySpec(
            encoding="o200k_base",
            weights=_ENVELOPE,
            per_message=6,
            per_request=11,
            tools_overhead=346,
            images="max",
            margin=0.50,
            reference="not measured (no tokenizer ships offline): the measured envelope",
        ),
        Family.DEFAULT: FamilySpec(
            encoding="o200k_base",
            weights=_ENVELOPE,
            per_message=6,
            per_request=11,
            tools_overhead=346,
            images="max",
            margin=0.50,
            reference="unknown model: the envelope of the measured families",
        ),
    }
)

_CLAUDE_VERSION = re.compile(
    r"claude-(?:(?:opus|sonnet|haiku|instant)-)?(\d+)(?:[-.](\d{1,2})(?!\d))?"
)
# Mistral's SentencePiece generation (32k vocabulary): mistral-common maps these names to
# its v1-v7 SentencePiece files; Llama 2 used the same kind of vocabulary.
_MISTRAL_SPM = re.compile(
    r"mixtral|mistral-7b|mistral-large|mistral-tiny|codestral-(?:2405|22b|mamba)"
    r"|mistral-(?:small|medium)-(?:2312|2402)|^mistral(?::|$)|llama-?2"
)
_O200K_NAMES = re.compile(r"^(?:gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|o\d|codex)")
_CL100K_NAMES = re.compile(r"^(?:gpt-4|gpt-35|gpt-3\.5|text-embedding-(?:3|ada))")
# Bedrock's model ids: an optional cross-region group, then the vendor.
_BEDROCK_PREFIX = re.compile(
    r"^(?:(?:us|us-gov|eu|apac|global|jp|au|ca)\.)?"
    r"(?:anthropic|meta|mistral|cohere|amazon|ai21|deepseek|qwen|openai|writer)\."
)


def _bare_name(upstream_model: str) -> str:
    """The model's own name: without a route prefix (``openai/``, ``models/``) or a Bedrock
    vendor prefix (``us.anthropic.``)."""
    name = upstream_model.strip().lower().rsplit("/", 1)[-1]
    return _BEDROCK_PREFIX.sub("", name, count=1)


def family_for(provider_format: str, upstream_model: str) -> Family:
    """The tokenizer family of a configured model: by its upstream name first (an OpenAI-
    compatible service may serve anyone's model), then by the wire format; else DEFAULT."""
    name = _bare_name(upstream_model)
    full = upstream_model.lower()
    if "claude" in name:
        match = _CLAUDE_VERSION.search(name)
        if match is None:
            return Family.ANTHROPIC_47
        version = (int(match.group(1)), int(match.group(2) or 0))
        return Family.ANTHROPIC_47 if version >= (4, 7) else Family.ANTHROPIC
    if _O200K_NAMES.match(name):
        return Family.OPENAI
    if _CL100K_NAMES.match(name):
        return Family.OPENAI_CL100K
    if any(k in name for k in ("mistral", "mixtral", "stral", "pixtral")) or "mistralai" in full:
        return Family.MISTRAL_SPM if _MISTRAL_SPM.search(name) else Family.MISTRAL
    if "llama" in name:
        if re.search(r"llama-?2", name):
            return Family.MISTRAL_SPM
        return Family.DEFAULT if re.search(r"llama-?4", name) else Family.LLAMA
    if "gemini" in name or "gemma" in name:
        return Family.GEMINI
    if name.startswith(("command", "c4ai", "aya")) or "cohere" in full:
        return Family.COHERE
    by_format = {"anthropic": Family.ANTHROPIC_47, "gemini": Family.GEMINI, "cohere": Family.COHERE}
    return by_format.get(provider_format, Family.DEFAULT)


@dataclass(frozen=True)
class _Tally:
    """A request's parts counted once under one base encoding: class counts per message
    (and for the tools and the response schema), each rounded up on its own, so that a
    conversation's estimate is the sum of what :func:`message_tokens` gives its messages."""

    parts: tuple[tuple[int, ...], ...]
    messages: int
    images: tuple[tuple[int, int] | None, ...]
    tools: bool


def _message_texts(message: ChatMessage) -> Iterable[str]:
    yield message.text
    if message.tool_calls:
        yield json_body.dumps([c.model_dump(mode="json") for c in message.tool_calls]).decode()
    if message.tool_call_id:
        yield message.tool_call_id


def _classes(texts: Iterable[str], encoding: EncodingName, classes: bool) -> tuple[int, ...]:
    total = [0] * CLASS_COUNT
    for text in texts:
        if not text:
            continue
        if classes:
            for cls, n in enumerate(count_classes(text, encoding)):
                total[cls] += n
        else:  # an exact family weighs every class 1: skip the tally (a quarter of the time)
            total[0] += count(text, encoding)
    return tuple(total)


def _tally(
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolSpec],
    response_format: ResponseFormat | None,
    encoding: EncodingName,
    classes: bool = True,
) -> _Tally:
    parts = [_classes(_message_texts(m), encoding, classes) for m in messages]
    images = [image_size(i.data) if i.data else None for m in messages for i in m.images]
    if tools:
        spec = json_body.dumps([t.model_dump(mode="json") for t in tools]).decode()
        parts.append(_classes((spec,), encoding, classes))
    if response_format is not None and response_format.json_schema is not None:
        schema = json_body.dumps(response_format.json_schema).decode()
        parts.append(_classes((schema,), encoding, classes))
    return _Tally(tuple(parts), len(messages), tuple(images), bool(tools))


def _weighed(classes: tuple[int, ...], weights: Weights) -> int:
    return math.ceil(sum(w * n for w, n in zip(weights, classes, strict=True)))


def _apply(tally: _Tally, spec: FamilySpec) -> int:
    return (
        sum(_weighed(part, spec.weights) for part in tally.parts)
        + spec.per_message * tally.messages
        + (spec.per_request if tally.messages else 0)
        + (spec.tools_overhead if tally.tools else 0)
        + sum(image_tokens(spec.images, size) for size in tally.images)
    )


def _parts(
    request: LLMRequest | Sequence[ChatMessage],
) -> tuple[Sequence[ChatMessage], Sequence[ToolSpec], ResponseFormat | None]:
    if isinstance(request, LLMRequest):
        return request.messages, request.tools, request.response_format
    return request, (), None


def estimate_for_families(
    request: LLMRequest | Sequence[ChatMessage], families: Iterable[Family]
) -> dict[Family, int]:
    """:func:`estimate_input_tokens` for each family, counting once per base encoding."""
    messages, tools, response_format = _parts(request)
    chosen = list(families)
    # An exact family next to a weighed one of the same encoding reads the class tally
    # too (its classes sum to the count): one pass over the text, not two.
    weighed = {FAMILIES[f].encoding for f in chosen if FAMILIES[f].weights != EXACT}
    tallies: dict[tuple[EncodingName, bool], _Tally] = {}
    out: dict[Family, int] = {}
    for family in chosen:
        spec = FAMILIES[family]
        key = (spec.encoding, spec.encoding in weighed)
        if key not in tallies:
            tallies[key] = _tally(messages, tools, response_format, *key)
        out[family] = _apply(tallies[key], spec)
    return out


def estimate_input_tokens(request: LLMRequest | Sequence[ChatMessage], family: Family) -> int:
    """The input tokens ``family``'s provider would count for ``request`` (messages, tools,
    response schema, images, chat overhead): a central estimate, no margin."""
    return estimate_for_families(request, (family,))[family]


def count_text(text: str, family: Family) -> int:
    """Tokens of bare text under ``family``, without any chat overhead."""
    spec = FAMILIES[family]
    if not text:
        return 0
    if spec.weights == EXACT:
        return count(text, spec.encoding)
    return _weighed(count_classes(text, spec.encoding), spec.weights)


def message_tokens(message: ChatMessage, family: Family) -> int:
    """One message's share of a request (its text, tool calls, images, per-message overhead):
    what dropping it from a conversation saves."""
    spec = FAMILIES[family]
    tally = _tally((message,), (), None, spec.encoding, spec.weights != EXACT)
    return _apply(tally, spec) - spec.per_request


def with_margin(tokens: int, family: Family, margin: float | None = None) -> int:
    """``tokens`` raised by the family's safety margin (or ``margin``, e.g. from config)."""
    spec = FAMILIES[family]
    share = spec.margin if margin is None else margin
    if share < 0:
        raise ValueError(f"margin: must be >= 0, got {share}")
    return math.ceil(tokens * (1 + share))
