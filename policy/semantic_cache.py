"""The semantic side of one route's cache on one partition: prompts by scope in a vector
index, and the lookup that turns a near neighbour into a hit (docs/design/cache.md).

The :class:`~policy.cache_book.CacheBook` keeps the entries; this keeps only which entry
keys sit near which prompts. A neighbour is a hit when its cosine reaches the route's
threshold, its entry is still live in the book, and :func:`policy.semantic_match.verify`
finds the two prompts say the same thing (numbers, negations, question word, content
words in order). The index may hold keys the book has dropped meanwhile: they are skipped
at lookup and removed when the stage learns of the drop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from policy.cache_book import Entry
from policy.semantic_index import ScopedIndex
from policy.semantic_match import read, verify

Embed = Callable[[str], Any]
# Candidates checked per lookup: the static embedding ranks a rival ("km to miles" /
# "miles to km") as high as a paraphrase, so the best one alone is not enough.
CANDIDATES = 4


@dataclass(frozen=True, slots=True)
class SimilarHit:
    key: str
    entry: Entry
    similarity: float


class SemanticShelf:
    def __init__(self, embed: Embed, dim: int) -> None:
        self._embed = embed
        self._index = ScopedIndex(dim)
        self._scope_of: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._scope_of)

    def add(self, scope: str, key: str, prompt: str) -> None:
        self.remove(key)
        self._index.add(scope, key, self._embed(prompt))
        self._scope_of[key] = scope

    def remove(self, key: str) -> None:
        scope = self._scope_of.pop(key, None)
        if scope is not None:
            self._index.remove(scope, key)

    def find(
        self,
        scope: str,
        prompt: str,
        threshold: float,
        live: Callable[[str], Entry | None],
    ) -> SimilarHit | None:
        """The closest verified neighbour of ``prompt`` in ``scope`` whose entry is live."""
        found = self._index.search(scope, self._embed(prompt), CANDIDATES, threshold)
        if not found:
            return None
        asked = read(prompt)
        for neighbour in found:
            entry = live(neighbour.key)
            if entry is None or not entry.prompt:
                continue
            if verify(read(entry.prompt), asked) is None:
                return SimilarHit(neighbour.key, entry, neighbour.similarity)
        return None

    def memory_bytes(self) -> int:
        return self._index.memory_bytes()
