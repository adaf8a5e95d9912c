"""Small real encoder and scorer folders for the tests: a word-level tokenizer made with the
tokenizers library and a seeded table written with the safetensors library, in the
model2vec layout the scorer reads; and the same encoder laid out as build-encoder writes its
derived folder (with encoder.json), with a scorer that records its fingerprint."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer, models, pre_tokenizers

from policy.derived_encoder import PROVENANCE_FILE, fingerprint
from policy.learned_score import FEATURES, FORMAT, MODEL_FILE
from policy.text_encoder import (
    FOLDER_EMBEDDINGS,
    FOLDER_TENSOR,
    FOLDER_TOKENIZER,
    load_folder,
    sha256_of,
)

WORDS = [
    "hello",
    "world",
    "cat",
    "dog",
    "the",
    "a",
    "is",
    "why",
    "how",
    "prove",
    "integral",
    "compare",
    "explain",
    "story",
    "poem",
    "capital",
    "france",
    "paris",
    "code",
    "python",
    "sum",
    "list",
]


def write_encoder(
    folder: Path, words: Sequence[str] = WORDS, dim: int = 8, seed: int = 0, rows: int | None = None
) -> np.ndarray:
    """tokenizer.json and model.safetensors in ``folder``; returns the table (row 0: [UNK])."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"[UNK]": 0, **{w: i + 1 for i, w in enumerate(words)}}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(folder / FOLDER_TOKENIZER))
    table = np.random.default_rng(seed).standard_normal((rows or len(vocab), dim))
    save_file({FOLDER_TENSOR: table.astype(np.float32)}, str(folder / FOLDER_EMBEDDINGS))
    return table.astype(np.float32)


def scorer_document(
    folder: Path,
    dim: int = 8,
    *,
    embedding_weights: Sequence[float] | None = None,
    feature_weights: Sequence[float] | None = None,
    bias: float = -0.5,
    thresholds: dict[str, float] | None = None,
) -> dict[str, Any]:
    """A scorer.json for the encoder in ``folder`` (written by :func:`write_encoder`)."""
    return {
        "format": FORMAT,
        "encoder": {
            "source": "folder",
            "name": f"folder:{folder.name}",
            "tokenizer_sha256": sha256_of(folder / FOLDER_TOKENIZER),
            "embeddings_sha256": sha256_of(folder / FOLDER_EMBEDDINGS),
        },
        "window_chars": 64,
        "feature_window_chars": 32,
        "features": list(FEATURES),
        "thresholds": thresholds or {"moderate": 0.3, "complex": 0.6},
        "bias": bias,
        "feature_weights": list(feature_weights or [1.5, 0.5, 0.5, 0.25, 0.1, 0.0]),
        "embedding_weights": list(embedding_weights or [0.5 - 0.1 * i for i in range(dim)]),
    }


def write_scorer(folder: Path, **overrides: Any) -> dict[str, Any]:
    """A complete model folder (encoder and scorer.json); returns the document."""
    write_encoder(folder)
    doc = scorer_document(folder)
    doc.update(overrides)
    (folder / MODEL_FILE).write_text(json.dumps(doc), encoding="utf-8")
    return doc


TINY_RECIPE = {"name": "tiny-test-encoder", "dims": 8, "method": "seeded normal rows"}


def write_derived_encoder(
    folder: Path, seed: int = 0, recipe: dict[str, Any] | None = None
) -> None:
    """A folder shaped like build-encoder's output: the small encoder plus encoder.json."""
    write_encoder(folder, seed=seed)
    files = {name: sha256_of(folder / name) for name in (FOLDER_TOKENIZER, FOLDER_EMBEDDINGS)}
    provenance = {"recipe": recipe or TINY_RECIPE, "files": files, "built": {"by": "test"}}
    (folder / PROVENANCE_FILE).write_text(json.dumps(provenance), encoding="utf-8")


def write_derived_scorer(model_dir: Path, encoder_dir: Path) -> dict[str, Any]:
    """scorer.json in ``model_dir`` for the derived-layout encoder in ``encoder_dir``."""
    encoder = load_folder(encoder_dir)
    doc = scorer_document(encoder_dir)
    doc["encoder"] = {
        "source": "derived",
        "name": TINY_RECIPE["name"],
        "recipe": TINY_RECIPE,
        "tokenizer_sha256": sha256_of(encoder_dir / FOLDER_TOKENIZER),
        "fingerprint": fingerprint(encoder, ["the", "why", "prove", "integral", "okapi"]),
    }
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / MODEL_FILE).write_text(json.dumps(doc), encoding="utf-8")
    return doc
