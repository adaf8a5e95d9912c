"""The semantic cache's vector index: exact search while small, usearch's HNSW graph above.

Rows are L2-normalized prompt embeddings (policy/text_encoder.py), so cosine similarity is
their dot product. A :class:`VectorIndex` holds one scope's entries (docs/design/cache.md
keys semantic lookups by scope: tenant unless shared, model or route, parameters, tools),
and :class:`ScopedIndex` keeps one per scope: a search cannot return another scope's entry
by construction, where a shared index with a filter would depend on the filter being right
and would walk other tenants' nodes to find one's own.

- **Exact** up to :data:`EXACT_UP_TO` entries: one numpy matrix product, exact and the same
  on every machine: 0.13 ms p50 at 4,096 rows of 256 (7 ms at 100k, hence the switch).
- **Approximate** above it: usearch (Apache-2.0; manylinux wheels with SIMD kernels chosen
  at run time, so one image runs on any x86-64 host), HNSW with 16 links per node, rows
  stored as float16 (the table they come from is float16 already). Measured on 100k static
  embeddings (benchmarks/semantic_index_bench.py, one core): ~81 MiB, recall@1 0.944 against
  exact search for queries with a neighbour over the default threshold, 0.7 ms p50 per
  search through this class (``search_expansion`` 128: 0.978 and 1.3 ms). Similarities on
  this path carry float16 rounding (~1e-3); the caller's verification decides a hit anyway.
  Removing an entry frees its slot for the next one, so TTL churn does not grow the graph.

Crossing the size switches representation (rebuilt from the rows held); dropping below
half of it switches back, so an index at the boundary does not flip on every add/remove.
Not thread-safe: one partition owner uses it from one task.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from usearch.index import Index

EXACT_UP_TO = 4096
"""Entries searched exactly; above this, the HNSW graph (issue 13: no linear scan past a few
thousand entries)."""

LINKS = 16
ADD_EXPANSION = 128
SEARCH_EXPANSION = 64

Row = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Neighbour:
    key: str
    similarity: float


class VectorIndex:
    """One scope's rows, by key: add (replacing), remove, and top-k search over a threshold."""

    def __init__(
        self,
        dim: int,
        exact_up_to: int = EXACT_UP_TO,
        search_expansion: int = SEARCH_EXPANSION,
    ) -> None:
        if dim < 1:
            raise ValueError(f"dim: must be at least 1, got {dim}")
        if exact_up_to < 1:
            raise ValueError(f"exact_up_to: must be at least 1, got {exact_up_to}")
        self.dim = dim
        self.exact_up_to = exact_up_to
        self._search_expansion = search_expansion
        self._label_of: dict[str, int] = {}
        self._key_of: dict[int, str] = {}
        self._next_label = 0
        # exact representation: rows[:count] with labels[:count]; row_of maps label -> row
        self._rows: Row = np.zeros((16, dim), np.float32)
        self._labels: npt.NDArray[np.uint64] = np.zeros(16, np.uint64)
        self._row_of: dict[int, int] = {}
        self._graph: Index | None = None

    def __len__(self) -> int:
        return len(self._label_of)

    def __contains__(self, key: object) -> bool:
        return key in self._label_of

    @property
    def approximate(self) -> bool:
        """Whether searches go through the HNSW graph."""
        return self._graph is not None

    def memory_bytes(self) -> int:
        """The rows or graph held (not the key maps)."""
        if self._graph is not None:
            return int(self._graph.memory_usage)
        return int(self._rows.nbytes + self._labels.nbytes)

    def _row(self, vector: Any) -> Row:
        row = np.asarray(vector, np.float32)
        if row.shape != (self.dim,):
            raise ValueError(f"vector: expected shape ({self.dim},), got {row.shape}")
        if not np.all(np.isfinite(row)):
            raise ValueError("vector: holds a value that is not finite")
        return row

    def add(self, key: str, vector: Any) -> None:
        """Store ``vector`` (L2-normalized) under ``key``, replacing what it held."""
        row = self._row(vector)
        if key in self._label_of:
            self.remove(key)
        label = self._next_label
        self._next_label += 1
        self._label_of[key] = label
        self._key_of[label] = key
        if self._graph is not None:
            self._graph.add(np.uint64(label), row, threads=1)
        else:
            count = len(self._row_of)
            if count == len(self._rows):
                self._rows = np.concatenate([self._rows, np.zeros_like(self._rows)])
                self._labels = np.concatenate([self._labels, np.zeros_like(self._labels)])
            self._rows[count] = row
            self._labels[count] = label
            self._row_of[label] = count
            if count + 1 > self.exact_up_to:
                self._to_graph()

    def remove(self, key: str) -> bool:
        """Forget ``key``; False when it was not there."""
        label = self._label_of.pop(key, None)
        if label is None:
            return False
        del self._key_of[label]
        if self._graph is not None:
            self._graph.remove(np.uint64(label))
            if len(self._label_of) < self.exact_up_to // 2:
                self._to_exact()
        else:
            # The last row fills the hole: removal stays O(1) and rows stay packed.
            hole, last = self._row_of.pop(label), len(self._row_of)
            if hole != last:
                moved = int(self._labels[last])
                self._rows[hole] = self._rows[last]
                self._labels[hole] = moved
                self._row_of[moved] = hole
        return True

    def search(self, vector: Any, k: int = 4, threshold: float = -1.0) -> list[Neighbour]:
        """Up to ``k`` entries with similarity >= ``threshold``, most similar first."""
        if k < 1:
            raise ValueError(f"k: must be at least 1, got {k}")
        row = self._row(vector)
        if not self._label_of:
            return []
        if self._graph is not None:
            found = self._graph.search(row, k, threads=1)
            pairs = zip(found.keys.tolist(), (1.0 - found.distances).tolist(), strict=True)
        else:
            count = len(self._row_of)
            scores = self._rows[:count] @ row
            top = np.argpartition(-scores, k - 1)[:k] if k < count else np.arange(count)
            pairs = zip(self._labels[top].tolist(), scores[top].tolist(), strict=True)
        out = [Neighbour(self._key_of[int(lb)], float(s)) for lb, s in pairs if s >= threshold]
        out.sort(key=lambda n: (-n.similarity, n.key))
        return out

    def _to_graph(self) -> None:
        # Imported here: usearch (and the tqdm it pulls in) is ~5 MB of a gateway worker's
        # memory, needed only once a scope outgrows the exact scan (issue 15).
        from usearch.index import Index

        graph = Index(
            ndim=self.dim,
            metric="ip",
            dtype="f16",
            connectivity=LINKS,
            expansion_add=ADD_EXPANSION,
            expansion_search=self._search_expansion,
        )
        count = len(self._row_of)
        graph.add(self._labels[:count].copy(), self._rows[:count], threads=1)
        self._graph = graph
        self._rows = np.zeros((16, self.dim), np.float32)
        self._labels = np.zeros(16, np.uint64)
        self._row_of = {}

    def _to_exact(self) -> None:
        graph, self._graph = self._graph, None
        assert graph is not None
        labels = np.fromiter(self._key_of, np.uint64, len(self._key_of))
        size = max(16, 1 << max(len(labels) - 1, 1).bit_length())
        self._rows = np.zeros((size, self.dim), np.float32)
        self._labels = np.zeros(size, np.uint64)
        if len(labels):
            self._rows[: len(labels)] = np.asarray(graph.get(labels), np.float32)
            self._labels[: len(labels)] = labels
        self._row_of = {int(lb): i for i, lb in enumerate(labels.tolist())}


class ScopedIndex:
    """A :class:`VectorIndex` per scope, made on first add and dropped when emptied."""

    def __init__(self, dim: int, exact_up_to: int = EXACT_UP_TO) -> None:
        self.dim = dim
        self.exact_up_to = exact_up_to
        self._scopes: dict[Hashable, VectorIndex] = {}

    def __len__(self) -> int:
        return sum(len(index) for index in self._scopes.values())

    def scopes(self) -> Iterator[Hashable]:
        return iter(self._scopes)

    def add(self, scope: Hashable, key: str, vector: Any) -> None:
        index = self._scopes.get(scope)
        if index is None:
            index = self._scopes[scope] = VectorIndex(self.dim, self.exact_up_to)
        index.add(key, vector)

    def remove(self, scope: Hashable, key: str) -> bool:
        index = self._scopes.get(scope)
        if index is None or not index.remove(key):
            return False
        if not len(index):
            del self._scopes[scope]
        return True

    def search(
        self, scope: Hashable, vector: Any, k: int = 4, threshold: float = -1.0
    ) -> list[Neighbour]:
        index = self._scopes.get(scope)
        return [] if index is None else index.search(vector, k, threshold)

    def memory_bytes(self) -> int:
        return sum(index.memory_bytes() for index in self._scopes.values())
