"""The static encoder: mean-pooled, L2-normalized token rows from a real tokenizer and a
memory-mapped safetensors table (a small folder made here, and the derived default one)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from policy.derived_encoder import PROVENANCE_FILE, default_dir
from policy.text_encoder import (
    FOLDER_EMBEDDINGS,
    FOLDER_TENSOR,
    FOLDER_TOKENIZER,
    EncoderError,
    load_folder,
)
from tests.policy.encoder_fixtures import WORDS, write_encoder


def _unit(v: np.ndarray) -> np.ndarray:
    unit: np.ndarray = v / np.linalg.norm(v)
    return unit


def test_a_text_is_the_normalized_mean_of_its_token_rows(tmp_path: Path) -> None:
    table = write_encoder(tmp_path)
    encoder = load_folder(tmp_path)
    rows = encoder.embed(["hello world", "world hello hello", "cat"])
    assert rows.dtype == np.float32 and rows.shape == (3, 8)
    hello, world, cat = (WORDS.index(w) + 1 for w in ("hello", "world", "cat"))
    np.testing.assert_allclose(rows[0], _unit(table[hello] + table[world]), rtol=1e-6)
    np.testing.assert_allclose(rows[1], _unit(2 * table[hello] + table[world]), rtol=1e-6)
    np.testing.assert_allclose(rows[2], _unit(table[cat]), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(encoder.embed_one("cat"), rows[2])


def test_unknown_tokens_carry_no_weight_and_an_empty_text_is_zeros(tmp_path: Path) -> None:
    write_encoder(tmp_path)
    encoder = load_folder(tmp_path)
    np.testing.assert_array_equal(encoder.embed_one("cat zebra zebra"), encoder.embed_one("cat"))
    assert not encoder.embed_one("zebra okapi").any()
    assert not encoder.embed_one("").any()
    assert encoder.embed([]).shape == (0, 8)


def test_the_same_text_gives_the_same_bits_across_loads(tmp_path: Path) -> None:
    write_encoder(tmp_path)
    texts = ["why is the cat a dog", "prove the integral", "hello"]
    np.testing.assert_array_equal(
        load_folder(tmp_path).embed(texts), load_folder(tmp_path).embed(texts)
    )


def test_a_float16_table_is_read_too(tmp_path: Path) -> None:
    table = write_encoder(tmp_path)
    save_file({FOLDER_TENSOR: table.astype(np.float16)}, str(tmp_path / FOLDER_EMBEDDINGS))
    row = load_folder(tmp_path).embed_one("dog")
    expected = _unit(table[WORDS.index("dog") + 1].astype(np.float16).astype(np.float64))
    np.testing.assert_allclose(row, expected, rtol=1e-6)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    write_encoder(tmp_path)
    (tmp_path / FOLDER_TOKENIZER).unlink()
    with pytest.raises(EncoderError, match=f"{FOLDER_TOKENIZER}: no such file"):
        load_folder(tmp_path)
    with pytest.raises(EncoderError, match="not a folder"):
        load_folder(tmp_path / "absent")


def test_a_bad_tokenizer_file_is_named(tmp_path: Path) -> None:
    write_encoder(tmp_path)
    (tmp_path / FOLDER_TOKENIZER).write_text("{}", encoding="utf-8")
    with pytest.raises(EncoderError, match=f"{FOLDER_TOKENIZER}: not a tokenizers file"):
        load_folder(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a safetensors file"),
        (struct.pack("<Q", 10) + b"{nope", "not a safetensors file"),
        (struct.pack("<Q", 1 << 40), r"not a safetensors file \(header of"),
    ],
)
def test_a_bad_table_file_is_named(tmp_path: Path, content: bytes, message: str) -> None:
    write_encoder(tmp_path)
    (tmp_path / FOLDER_EMBEDDINGS).write_bytes(content)
    with pytest.raises(EncoderError, match=f"{FOLDER_EMBEDDINGS}: {message}"):
        load_folder(tmp_path)


def test_a_table_without_the_tensor_or_too_short_is_refused(tmp_path: Path) -> None:
    table = write_encoder(tmp_path)
    save_file({"other": table}, str(tmp_path / FOLDER_EMBEDDINGS))
    with pytest.raises(EncoderError, match=r"no tensor 'embeddings' \(has \['other'\]\)"):
        load_folder(tmp_path)
    write_encoder(tmp_path, rows=5)  # fewer rows than the tokenizer has tokens
    with pytest.raises(EncoderError, match="5 rows for a tokenizer of"):
        load_folder(tmp_path)
    save_file({FOLDER_TENSOR: np.zeros(4, np.float32)}, str(tmp_path / FOLDER_EMBEDDINGS))
    with pytest.raises(EncoderError, match="not a 2-D table"):
        load_folder(tmp_path)


def test_a_header_pointing_past_the_end_is_refused(tmp_path: Path) -> None:
    write_encoder(tmp_path)
    header = json.dumps(
        {FOLDER_TENSOR: {"dtype": "F32", "shape": [40, 8], "data_offsets": [0, 1280]}}
    ).encode()
    (tmp_path / FOLDER_EMBEDDINGS).write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    with pytest.raises(EncoderError, match="lies outside the file"):
        load_folder(tmp_path)


def test_token_ids_and_rows_read_the_table_as_stored(tmp_path: Path) -> None:
    table = write_encoder(tmp_path)
    save_file({FOLDER_TENSOR: table.astype(np.float16)}, str(tmp_path / FOLDER_EMBEDDINGS))
    encoder = load_folder(tmp_path)
    cat = encoder.token_id("cat")
    assert cat == WORDS.index("cat") + 1 and encoder.token_id("zebra") is None
    rows = encoder.rows([cat, 0])
    assert rows.dtype == np.float64
    np.testing.assert_array_equal(rows, table[[cat, 0]].astype(np.float16).astype(np.float64))


def test_the_derived_encoder_places_related_texts_together() -> None:
    # The folder make setup builds (routeyard router build-encoder): all-MiniLM-L6-v2's
    # token table, reduced.
    folder = default_dir()
    if not (folder / PROVENANCE_FILE).is_file():
        pytest.fail(f"{folder}: not built; run routeyard router build-encoder (make setup)")
    encoder = load_folder(folder)
    assert encoder.dim == 256
    rows = encoder.embed(
        [
            "What is the capital of France?",
            "Which city is the capital of France?",
            "Prove that the square root of two is irrational.",
            "Write a python function that reverses a list.",
            "Implement list reversal in python code.",
        ]
    )
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-5)
    similarity = rows @ rows.T
    assert similarity[0, 1] > 0.8 > similarity[0, 2]
    assert similarity[3, 4] > max(similarity[3, 0], similarity[3, 2])
    np.testing.assert_array_equal(
        load_folder(folder).embed_one("hello"), encoder.embed_one("hello")
    )
