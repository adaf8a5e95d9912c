"""The learned complexity score: P(the strong model is needed | prompt).

A logistic layer over the prompt's static embedding (policy/text_encoder.py) and the
heuristic's cheap features (policy/classifier.py), trained offline by
``routeyard router train`` on RouteLLM's labeled prompts. Scoring is numpy arithmetic on
one embedding: pure and deterministic, so every worker, a replay and ``routeyard score``
give the same number for the same prompt and model folder.

**The model folder** holds ``scorer.json``: the weights, the encoder it was trained with,
the text windows, the default tier thresholds, and a record of the training data and
metrics. Weights trained on one table mean nothing on another, so the encoder is checked:

- ``source: derived`` (the default, policy/derived_encoder.py): the folder ``routeyard
  router build-encoder`` writes, found at ``router.encoder_dir`` or the default location.
  Its recipe must be the recorded one, its tokenizer must hash as recorded, and its probe
  rows must match the recorded fingerprint within its tolerance (a rebuilt table may differ
  in its last bits from the one trained on, so no byte hash of the table);
- ``source: folder``: ``tokenizer.json`` and ``model.safetensors`` in the model folder
  itself (model2vec layout, a user's own encoder), both hashing as recorded.

**Long prompts** are read at their head and tail: ``window_chars`` each for the embedding,
``feature_window_chars`` each for the keyword features and the task type (the regular
expressions cost three times what the tokenizer does per character), so scoring a 900 KB
prompt costs about what a 1 KB one does. ``length`` still counts every character.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from policy.classifier import head_tail, request_text, text_features
from policy.derived_encoder import (
    EncoderMissing,
    default_dir,
    fingerprint_mismatch,
    read_provenance,
)
from policy.text_encoder import (
    EncoderError,
    EncoderFiles,
    StaticEncoder,
    folder_files,
    sha256_of,
)
from schemas.events import LLMRequest
from schemas.router import TierThresholds

MODEL_FILE = "scorer.json"
FORMAT = "routeyard-learned-scorer/1"
FEATURES = ("length", "code", "math", "reasoning", "questions", "turns")
"""The heuristic's features the layer reads, in the order of ``feature_weights``."""


class ModelError(Exception):
    """A model folder cannot be used; the message says which file and why."""


class EncoderNotBuilt(ModelError):
    """The scorer needs the derived encoder and no build of it is where it is looked for."""

    def __init__(self, message: str, folder: Path) -> None:
        super().__init__(message)
        self.folder = folder


@dataclass(frozen=True)
class Reading:
    """What the scorer reads of a request: the scanned text, its features and embedding."""

    text: str
    features: dict[str, float]
    embedding: npt.NDArray[np.float32]


def shipped_model_dir() -> Path:
    """The model folder that ships inside the routeyard package."""
    return Path(str(resources.files("policy") / "router_model"))


@dataclass(frozen=True)
class Windows:
    """Head and tail characters read of a long prompt."""

    embedding: int
    features: int


def read_request(encoder: StaticEncoder, windows: Windows, request: LLMRequest) -> Reading:
    """The one way both training and scoring read a request."""
    full = request_text(request)
    text, features = text_features(full, len(request.messages), windows.features)
    return Reading(text, features, encoder.embed_one(head_tail(full, windows.embedding)))


def design_row(reading: Reading) -> npt.NDArray[np.float64]:
    """The layer's input: the embedding, then :data:`FEATURES`."""
    tail = np.array([reading.features[name] for name in FEATURES], np.float64)
    return np.concatenate([reading.embedding.astype(np.float64), tail])


def logistic(z: float) -> float:
    # Split by sign so that exp never overflows.
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True)
class LearnedScorer:
    encoder: StaticEncoder
    windows: Windows
    weights: npt.NDArray[np.float64]  # one per design_row column
    bias: float
    thresholds: TierThresholds
    document: Mapping[str, Any]  # scorer.json as read, for its record of training

    def read(self, request: LLMRequest) -> Reading:
        return read_request(self.encoder, self.windows, request)

    def probability(self, reading: Reading) -> float:
        return probability_of(design_row(reading), self.weights, self.bias)


def probability_of(
    row: npt.NDArray[np.float64], weights: npt.NDArray[np.float64], bias: float
) -> float:
    """Rounded to 4 decimals: the score published on the dispatch event. Training scores
    its validation rows through this too, so its thresholds cut the same numbers."""
    return round(logistic(float(row @ weights) + bias), 4)


_KINDS: dict[type | tuple[type, ...], str] = {
    dict: "a JSON object",
    list: "a list",
    int: "an integer",
    (int, float): "a number",
}


def _require(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: Path) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ModelError(f"{where}: {key} is missing or not {_KINDS[kind]}")
    return value


def _numbers(values: list[Any], key: str, where: Path) -> npt.NDArray[np.float64]:
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise ModelError(f"{where}: {key} holds a value that is not a number")
    array = np.array(values, np.float64)
    if not np.all(np.isfinite(array)):
        raise ModelError(f"{where}: {key} holds a value that is not finite")
    return array


def _derived_files(
    spec: Mapping[str, Any], encoder_dir: Path | None, where: Path
) -> tuple[EncoderFiles, Mapping[str, Any]]:
    folder = encoder_dir if encoder_dir is not None else default_dir()
    try:
        provenance = read_provenance(folder)
    except EncoderMissing as exc:
        raise EncoderNotBuilt(f"{where}: encoder: {exc}", folder) from exc
    recipe = spec.get("recipe")
    if provenance["recipe"] != recipe:
        found = provenance["recipe"].get("name")
        wanted = recipe.get("name") if isinstance(recipe, dict) else None
        raise ModelError(
            f"{where}: encoder: {folder} holds {found!r}, built by another recipe than the"
            f" {wanted!r} the scorer was trained with"
        )
    fingerprint = spec.get("fingerprint")
    if not isinstance(fingerprint, dict):
        raise ModelError(f"{where}: encoder.fingerprint is missing or not a JSON object")
    return folder_files(folder), fingerprint


def encoder_files(
    spec: Mapping[str, Any], model_dir: Path, where: Path, encoder_dir: Path | None = None
) -> tuple[EncoderFiles, Mapping[str, Any] | None]:
    """The encoder ``spec`` (scorer.json's ``encoder``) names, checked as far as hashes go,
    and the fingerprint its table must still match once loaded (derived encoders)."""
    source = spec.get("source")
    fingerprint: Mapping[str, Any] | None = None
    try:
        if source == "derived":
            files, fingerprint = _derived_files(spec, encoder_dir, where)
            roles: tuple[tuple[str, Path], ...] = (("tokenizer", files.tokenizer),)
        elif source == "folder":
            files = folder_files(model_dir)
            roles = (("tokenizer", files.tokenizer), ("embeddings", files.embeddings))
        else:
            raise ModelError(f"{where}: encoder.source must be derived or folder, got {source!r}")
        for role, path in roles:
            expected = spec.get(f"{role}_sha256")
            if sha256_of(path) != expected:
                raise ModelError(
                    f"{where}: {path} is not the {role} file the scorer was trained with"
                    f" (sha256 differs from encoder.{role}_sha256)"
                )
    except EncoderError as exc:
        raise ModelError(f"{where}: encoder: {exc}") from exc
    return files, fingerprint


def load_scorer(model_dir: Path, encoder_dir: Path | None = None) -> LearnedScorer:
    """The scorer in ``model_dir``; :class:`ModelError` says why it cannot be used.
    ``encoder_dir``: where a derived encoder is (None: its default location)."""
    where = model_dir / MODEL_FILE
    try:
        doc = json.loads(where.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"{where}: cannot read: {exc.strerror or exc}") from exc
    except ValueError as exc:  # JSON and UTF-8 errors
        raise ModelError(f"{where}: not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise ModelError(f"{where}: format must be {FORMAT!r}, got {found!r}")
    if _require(doc, "features", list, where) != list(FEATURES):
        raise ModelError(f"{where}: features must be {list(FEATURES)}")
    windows = Windows(
        _require(doc, "window_chars", int, where),
        _require(doc, "feature_window_chars", int, where),
    )
    if windows.embedding < 1 or windows.features < 1:
        raise ModelError(f"{where}: window_chars and feature_window_chars must be at least 1")
    spec = _require(doc, "encoder", dict, where)
    files, fingerprint = encoder_files(spec, model_dir, where, encoder_dir)
    try:
        encoder = StaticEncoder(files)
    except EncoderError as exc:
        raise ModelError(f"{where}: encoder: {exc}") from exc
    mismatch = None if fingerprint is None else fingerprint_mismatch(encoder, fingerprint)
    if mismatch is not None:
        raise ModelError(
            f"{where}: encoder: {files.embeddings} is not the table the scorer was trained"
            f" with: {mismatch} (rebuild it: routeyard router build-encoder --force)"
        )
    embedding = _numbers(
        _require(doc, "embedding_weights", list, where), "embedding_weights", where
    )
    features = _numbers(_require(doc, "feature_weights", list, where), "feature_weights", where)
    if embedding.size != encoder.dim or features.size != len(FEATURES):
        raise ModelError(
            f"{where}: {embedding.size} embedding_weights and {features.size} feature_weights"
            f" for an encoder of {encoder.dim} dimensions and {len(FEATURES)} features"
        )
    bias = float(_numbers([_require(doc, "bias", (int, float), where)], "bias", where)[0])
    cuts = _require(doc, "thresholds", dict, where)
    try:
        thresholds = TierThresholds.model_validate(cuts)
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise ModelError(f"{where}: thresholds: {reasons}") from exc
    return LearnedScorer(
        encoder=encoder,
        windows=windows,
        weights=np.concatenate([embedding, features]),
        bias=bias,
        thresholds=thresholds,
        document=doc,
    )
