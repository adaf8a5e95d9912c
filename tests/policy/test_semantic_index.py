"""The semantic cache's vector index: exact and HNSW search agree, remove, threshold, scopes."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from policy.semantic_index import ScopedIndex, VectorIndex

DIM = 32


def unit(rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    out: npt.NDArray[np.float32] = (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(
        np.float32
    )
    return out


def clustered(n: int, seed: int) -> npt.NDArray[np.float32]:
    """Rows around 50 centres, like prompts around common questions."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((50, DIM))
    return unit(centres[rng.integers(0, 50, n)] + 0.5 * rng.standard_normal((n, DIM)))


def nudged(rows: npt.NDArray[np.float32], seed: int) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    return unit(rows + 0.05 * rng.standard_normal(rows.shape))


def filled(rows: npt.NDArray[np.float32], exact_up_to: int) -> VectorIndex:
    index = VectorIndex(DIM, exact_up_to=exact_up_to)
    for i, row in enumerate(rows):
        index.add(f"k{i}", row)
    return index


def test_the_graph_finds_what_exact_search_finds() -> None:
    rows = clustered(3000, seed=1)
    exact, graph = filled(rows, 10_000), filled(rows, 500)
    assert not exact.approximate and graph.approximate
    queries = nudged(rows[::15], seed=2)
    agree = 0
    for q in queries:
        want, got = exact.search(q, k=1), graph.search(q, k=1)
        agree += want[0].key == got[0].key
        # float16 rows on the graph path: similarities agree to rounding
        assert abs(want[0].similarity - got[0].similarity) < 5e-3 or want[0].key != got[0].key
    assert agree / len(queries) >= 0.97


def test_exact_search_returns_the_top_k_in_order() -> None:
    rows = clustered(200, seed=3)
    index = filled(rows, 1000)
    q = rows[7]
    found = index.search(q, k=5)
    scores = rows @ q
    assert [n.key for n in found] == [f"k{i}" for i in np.argsort(-scores)[:5]]
    assert found[0].key == "k7" and found[0].similarity == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("exact_up_to", [10_000, 100])
def test_a_removed_entry_is_never_returned(exact_up_to: int) -> None:
    rows = clustered(400, seed=4)
    index = filled(rows, exact_up_to)
    for i in range(0, 400, 2):
        assert index.remove(f"k{i}")
    assert len(index) == 200
    assert not index.remove("k0")
    assert "k0" not in index and "k1" in index
    for i in range(0, 400, 20):
        found = index.search(rows[i], k=3)
        assert all(int(n.key[1:]) % 2 == 1 for n in found)
        assert index.search(rows[i + 1], k=1)[0].key == f"k{i + 1}"


def test_search_keeps_only_what_reaches_the_threshold() -> None:
    rows = clustered(300, seed=5)
    for index in (filled(rows, 10_000), filled(rows, 50)):
        found = index.search(rows[0], k=50, threshold=0.9)
        assert found and all(n.similarity >= 0.9 for n in found)
        assert found[0].key == "k0"
        assert index.search(-rows[0], k=5, threshold=0.9) == []


def test_adding_a_key_again_replaces_its_row() -> None:
    rows = clustered(3, seed=6)
    index = VectorIndex(DIM)
    index.add("a", rows[0])
    index.add("a", rows[1])
    assert len(index) == 1
    [only] = index.search(rows[1], k=1)
    assert only.key == "a" and only.similarity == pytest.approx(1.0, abs=1e-6)


def test_it_switches_to_the_graph_and_back_as_it_grows_and_shrinks() -> None:
    rows = clustered(300, seed=7)
    index = filled(rows, 100)
    assert index.approximate
    for i in range(260):
        index.remove(f"k{i}")
    assert not index.approximate and len(index) == 40
    # rows read back from the graph (float16) still find themselves
    assert index.search(rows[299], k=1)[0].key == "k299"
    for i in range(260):
        index.add(f"k{i}", rows[i])
    assert index.approximate and len(index) == 300


def test_churn_does_not_grow_the_graph() -> None:
    rows = clustered(600, seed=8)
    index = filled(rows[:300], 100)
    size = index.memory_bytes()
    for round_ in range(3):
        for i in range(300):
            index.remove(f"k{i}" if round_ == 0 else f"r{round_ - 1}-{i}")
            index.add(f"r{round_}-{i}", rows[300 + i])
    assert len(index) == 300 and index.memory_bytes() == size


def test_bad_input_is_refused_with_the_field_named() -> None:
    index = VectorIndex(DIM)
    with pytest.raises(ValueError, match="vector: expected shape"):
        index.add("a", np.zeros(DIM + 1, np.float32))
    with pytest.raises(ValueError, match="vector: holds a value that is not finite"):
        index.add("a", np.full(DIM, np.nan, np.float32))
    with pytest.raises(ValueError, match="k: must be at least 1"):
        index.search(np.ones(DIM, np.float32), k=0)
    with pytest.raises(ValueError, match="exact_up_to"):
        VectorIndex(DIM, exact_up_to=0)
    assert index.search(np.ones(DIM, np.float32)) == []


def test_a_scope_never_sees_another_scopes_entries() -> None:
    rows = clustered(4, seed=9)
    scoped = ScopedIndex(DIM)
    scoped.add(("acme", "gpt"), "a", rows[0])
    scoped.add(("globex", "gpt"), "b", rows[0])
    assert [n.key for n in scoped.search(("acme", "gpt"), rows[0])] == ["a"]
    assert scoped.search(("initech", "gpt"), rows[0]) == []
    assert scoped.remove(("globex", "gpt"), "b")
    assert not scoped.remove(("globex", "gpt"), "b")
    assert list(scoped.scopes()) == [("acme", "gpt")] and len(scoped) == 1
