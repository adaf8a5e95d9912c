"""The semantic shelf with the router's real encoder (built by `make encoder`)."""

from __future__ import annotations

import pytest

from policy.cache_book import Entry
from policy.derived_encoder import default_dir
from policy.semantic_cache import SemanticShelf
from policy.semantic_match import DEFAULT_THRESHOLD
from policy.text_encoder import StaticEncoder, load_folder


@pytest.fixture(scope="module")
def encoder() -> StaticEncoder:
    return load_folder(default_dir())


def _entry(prompt: str) -> Entry:
    return Entry(b"{}", "origin", 0.0, 1e12, 10, prompt=prompt)


def test_a_paraphrase_hits_and_a_transposition_does_not(encoder: StaticEncoder) -> None:
    shelf = SemanticShelf(encoder.embed_one, encoder.dim)
    entries = {"k1": _entry("Convert 5 km to miles")}
    shelf.add("scope", "k1", "Convert 5 km to miles")
    hit = shelf.find("scope", "convert 5 km into miles", DEFAULT_THRESHOLD, entries.get)
    assert hit is not None and hit.key == "k1" and hit.similarity >= DEFAULT_THRESHOLD
    assert shelf.find("scope", "Convert 5 miles to km", DEFAULT_THRESHOLD, entries.get) is None
    assert shelf.find("other", "Convert 5 km to miles", DEFAULT_THRESHOLD, entries.get) is None


def test_a_dropped_entry_is_never_served(encoder: StaticEncoder) -> None:
    shelf = SemanticShelf(encoder.embed_one, encoder.dim)
    shelf.add("scope", "k1", "What is the capital of France?")
    nothing: dict[str, Entry] = {}
    assert shelf.find("scope", "What is the capital of France?", 0.5, nothing.get) is None
    shelf.remove("k1")
    assert len(shelf) == 0
