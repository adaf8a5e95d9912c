"""``routeyard router train``: fit the learned scorer and write its model folder.

    routeyard router train --out policy/router_model [--data ../shared/datasets/routellm]
        [--encoder-dir DIR]

The encoder is the one ``routeyard router build-encoder`` derives (its default folder unless
``--encoder-dir`` names another), or a model2vec folder of your own.

**Data.** RouteLLM's MMLU and GSM8K prompts with the weak and strong model's correctness
(routeyard/router_data.py), the ``train`` part only; hyperparameters and the default tier
thresholds are chosen on the ``validation`` part. MT-bench is never loaded; the ``test``
fifth of each source is dropped as soon as its file is read (the record's file hashes cover
whole files, so a changed test label changes them and nothing else).

**Label.** The score estimates "the strong model is needed": 1 when the weak model is wrong
and the strong one right, 0 when the weak one is right. When both are wrong the strong
call buys nothing on this prompt, yet the prompt is hard and a stronger model than either
may be what it needs: its target is a hyperparameter (0, 0.5 or 1), chosen on validation.

**Fit.** L2-regularized logistic regression on standardized columns, by Newton's method
from zero in float64: no randomness at all. Weights are written at 6 significant digits and
every metric is computed from the rounded weights through the scorer's own arithmetic, so
the same data and encoder table give the same ``scorer.json`` byte for byte (``--check``
says whether the folder on disk is that file). A derived table rebuilt on another CPU may
differ in its last bits (policy/derived_encoder.py), and then so may the retrained weights.

**Selection.** Each grid point (regularization x both-wrong target x source weighting) is
fit on train and scored by the mean of its validation APGR on MMLU and GSM8K; the first
best in grid order wins.

**Thresholds.** On the pooled validation prompts, ``complex`` is the cut at which sending
``score >= complex`` to the strong model recovers half of its quality gain with the fewest
strong calls (CPT 50%), ``moderate`` the cut for 80%: a route that sends complex to the
strong model keeps about half the gain, one that sends moderate and complex about 80%.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from policy.learned_score import Reading
    from policy.text_encoder import StaticEncoder
    from routeyard.router_data import Source

    Matrix = npt.NDArray[np.float64]

WINDOW_CHARS = 512
"""Head and tail characters of a long prompt that the encoder reads."""
FEATURE_WINDOW_CHARS = 256
"""Head and tail characters the keyword features and the task type read: their regular
expressions cost three times the tokenizer's time per character, and the scorer must stay
under 2 ms per request on one core (benchmarks/router_score.py)."""
LAMBDAS = (1.0, 10.0, 100.0, 1000.0)
BOTH_WRONG_TARGETS = (0.0, 0.5, 1.0)
BALANCES = ("prompt", "source")
"""prompt: every prompt weighs 1; source: each source weighs the same in total."""
SIGNIFICANT = 6
MAX_NEWTON_STEPS = 100
DATA_LICENSE = "Apache-2.0 (lm-sys/RouteLLM)"


@dataclass(frozen=True)
class Setting:
    lam: float
    both_wrong: float
    balance: str

    def as_dict(self) -> dict[str, Any]:
        return {"l2": self.lam, "both_wrong_target": self.both_wrong, "balance": self.balance}


@dataclass(frozen=True)
class Labeled:
    """One source's rows for training or validation."""

    name: str
    x: Matrix
    weak: list[float]
    strong: list[float]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="model folder to write")
    parser.add_argument(
        "--data", type=Path, default=None, help="the routellm folder (../shared/datasets/routellm)"
    )
    parser.add_argument(
        "--encoder-dir",
        type=Path,
        default=None,
        help="the encoder: a folder build-encoder wrote (default: its default location), or"
        " your own model2vec-layout folder (tokenizer.json, model.safetensors), whose two"
        " files are then copied into --out",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 unless --out already holds exactly what training makes",
    )


def targets(weak: Sequence[float], strong: Sequence[float], both_wrong: float) -> Matrix:
    import numpy as np

    w, s = np.asarray(weak), np.asarray(strong)
    return np.where(w == 1.0, 0.0, np.where(s == 1.0, 1.0, both_wrong))


def fit_logistic(x: Matrix, y: Matrix, weight: Matrix, lam: float) -> tuple[Matrix, float]:
    """L2-regularized logistic regression (intercept not penalized); coefficients on the
    raw columns. Soft targets in [0, 1] are allowed."""
    import numpy as np

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0.0] = 1.0  # a constant column is all zeros once centred: its weight stays 0
    a = np.hstack([np.ones((x.shape[0], 1)), (x - mean) / scale])
    penalty = np.full(a.shape[1], lam)
    penalty[0] = 0.0
    beta = np.zeros(a.shape[1])
    for _ in range(MAX_NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-(a @ beta)))
        grad = a.T @ (weight * (p - y)) + penalty * beta
        hess = (a * (weight * p * (1.0 - p))[:, None]).T @ a + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    coef = beta[1:] / scale
    return coef, float(beta[0] - coef @ mean)


def rounded(values: Any) -> list[float]:
    return [float(f"{float(v):.{SIGNIFICANT}g}") for v in values]


def scores_of(x: Matrix, coef: Sequence[float], bias: float) -> list[float]:
    import numpy as np

    from policy.learned_score import probability_of

    weights = np.asarray(coef, np.float64)
    return [probability_of(row, weights, bias) for row in x]


def threshold_at(scores: Sequence[float], share: float) -> float:
    """The score a cut must sit at so that ``score >= cut`` takes ``share`` of ``scores``
    (a share reached by the quality curve, so it falls on a boundary between scores)."""
    k = round(share * len(scores))
    return 1.0 if k == 0 else sorted(scores, reverse=True)[k - 1]


def _read_all(encoder: StaticEncoder, prompts: Sequence[str]) -> list[Reading]:
    from policy.learned_score import Windows, read_request
    from schemas.chat import ChatMessage
    from schemas.events import LLMRequest

    out = []
    for prompt in prompts:
        request = LLMRequest(
            request_id="train", tenant="train", messages=[ChatMessage(role="user", content=prompt)]
        )
        out.append(read_request(encoder, Windows(WINDOW_CHARS, FEATURE_WINDOW_CHARS), request))
    return out


def _labeled(encoder: StaticEncoder, source: Source) -> Labeled:
    import numpy as np

    from policy.learned_score import design_row

    rows = [design_row(r) for r in _read_all(encoder, source.prompts)]
    return Labeled(source.name, np.vstack(rows), source.weak, source.strong)


def _fit(setting: Setting, train: Sequence[Labeled]) -> tuple[list[float], float]:
    import numpy as np

    x = np.vstack([part.x for part in train])
    y = np.concatenate([targets(p.weak, p.strong, setting.both_wrong) for p in train])
    if setting.balance == "source":
        total = sum(len(p.weak) for p in train)
        weight = np.concatenate(
            [np.full(len(p.weak), total / (len(train) * len(p.weak))) for p in train]
        )
    else:
        weight = np.ones(len(y))
    coef, bias = fit_logistic(x, y, weight, setting.lam)
    return rounded(coef), rounded([bias])[0]


def _metrics(scores: Sequence[float], part: Labeled | tuple[list[float], list[float]]) -> Any:
    from policy.router_eval import evaluate

    weak, strong = (part.weak, part.strong) if isinstance(part, Labeled) else part
    return evaluate(scores, weak, strong)


def _summary(result: Any) -> dict[str, Any]:
    return {
        "n": result.n,
        "weak": round(result.weak, 4),
        "strong": round(result.strong, 4),
        "apgr": round(result.apgr, 4),
        "cpt50": round(result.cpt50, 4),
        "cpt80": round(result.cpt80, 4),
    }


def _encoder(args: argparse.Namespace) -> tuple[StaticEncoder, dict[str, Any]]:
    """The encoder to train on and what scorer.json records of it: a derived encoder by its
    recipe, tokenizer hash and probe-row fingerprint (its table may be rebuilt elsewhere
    with other last bits); a user's folder by both files' hashes (they ship beside it)."""
    from policy.derived_encoder import EncoderMissing, default_dir, fingerprint, read_provenance
    from policy.text_encoder import EncoderError, StaticEncoder, folder_files, sha256_of

    folder: Path = args.encoder_dir or default_dir()
    try:
        provenance: dict[str, Any] | None = read_provenance(folder)
    except EncoderMissing as exc:
        if args.encoder_dir is None:
            raise EncoderError(f"{exc}: run routeyard router build-encoder first") from exc
        provenance = None
    files = folder_files(folder)
    encoder = StaticEncoder(files)
    spec: dict[str, Any]
    if provenance is not None:
        recipe = provenance["recipe"]
        spec = {
            "source": "derived",
            "name": recipe.get("name"),
            "recipe": recipe,
            "tokenizer_sha256": sha256_of(files.tokenizer),
            "fingerprint": fingerprint(encoder),
        }
    else:
        spec = {
            "source": "folder",
            "name": files.name,
            "tokenizer_sha256": sha256_of(files.tokenizer),
            "embeddings_sha256": sha256_of(files.embeddings),
        }
    return encoder, spec


def build_document(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    """scorer.json's content for ``args``: everything but the file write."""
    from policy.learned_score import FEATURES, FORMAT
    from routeyard.router_data import (
        DEFAULT_DATA,
        TEST_PERCENT,
        VALIDATION_PERCENT,
        fingerprint,
        load_training_sources,
        part,
    )

    root: Path = args.data or DEFAULT_DATA
    encoder, spec = _encoder(args)
    sources = load_training_sources(root)
    train = [_labeled(encoder, part(s, "train")) for s in sources]
    val = [_labeled(encoder, part(s, "validation")) for s in sources]
    log(f"train: {', '.join(f'{p.name} {len(p.weak)}' for p in train)}")
    log(f"validation: {', '.join(f'{p.name} {len(p.weak)}' for p in val)}")

    grid = []
    best: tuple[float, Setting, list[float], float] | None = None
    for lam in LAMBDAS:
        for both_wrong in BOTH_WRONG_TARGETS:
            for balance in BALANCES:
                setting = Setting(lam, both_wrong, balance)
                coef, bias = _fit(setting, train)
                apgrs = [_metrics(scores_of(p.x, coef, bias), p).apgr for p in val]
                mean = sum(apgrs) / len(apgrs)
                grid.append({**setting.as_dict(), "validation_apgr": round(mean, 4)})
                log(f"  {setting.as_dict()} validation APGR {mean:.4f}")
                if best is None or round(mean, 6) > round(best[0], 6):
                    best = (mean, setting, coef, bias)
    assert best is not None
    _, setting, coef, bias = best
    log(f"chosen: {setting.as_dict()}")

    per_source = {p.name: scores_of(p.x, coef, bias) for p in val}
    pooled_scores = [s for p in val for s in per_source[p.name]]
    pooled = _metrics(
        pooled_scores, ([w for p in val for w in p.weak], [s for p in val for s in p.strong])
    )
    complex_cut = threshold_at(pooled_scores, pooled.cpt50)
    moderate_cut = threshold_at(pooled_scores, pooled.cpt80)
    n = len(pooled_scores)
    dim = encoder.dim
    return {
        "format": FORMAT,
        "encoder": spec,
        "window_chars": WINDOW_CHARS,
        "feature_window_chars": FEATURE_WINDOW_CHARS,
        "features": list(FEATURES),
        "thresholds": {"moderate": moderate_cut, "complex": complex_cut},
        "bias": bias,
        "feature_weights": coef[dim:],
        "training": {
            "command": "routeyard router train (make train-router)",
            "data": {
                "name": "RouteLLM MMLU and GSM8K responses (../shared/datasets/routellm)",
                "license": DATA_LICENSE,
                "weak_model": "mistralai/Mixtral-8x7B-Instruct-v0.1",
                "strong_model": "gpt-4-1106-preview",
                "sources": {s.name: fingerprint(s, root) for s in sources},
                "split": (
                    f"sha256(source NUL prompt) first 8 bytes mod 100: < {TEST_PERCENT} test"
                    f" (never used for training or tuning), < {TEST_PERCENT + VALIDATION_PERCENT}"
                    " validation, else train; MT-bench never read"
                ),
                "train_prompts": {p.name: len(p.weak) for p in train},
                "validation_prompts": {p.name: len(p.weak) for p in val},
                "other_data": "none",
            },
            "label": "weak wrong and strong right: 1; weak right: 0; both wrong: both_wrong_target",
            "chosen": setting.as_dict(),
            "grid": grid,
        },
        "metrics": {
            "validation": {p.name: _summary(_metrics(per_source[p.name], p)) for p in val}
            | {"pooled": _summary(pooled)},
            "validation_tier_shares": {
                "simple": round(sum(s < moderate_cut for s in pooled_scores) / n, 4),
                "moderate": round(
                    sum(moderate_cut <= s < complex_cut for s in pooled_scores) / n, 4
                ),
                "complex": round(sum(s >= complex_cut for s in pooled_scores) / n, 4),
            },
        },
        "embedding_weights": coef[:dim],
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def run(args: argparse.Namespace) -> int:
    from policy.learned_score import MODEL_FILE
    from policy.text_encoder import FOLDER_EMBEDDINGS, FOLDER_TOKENIZER, EncoderError
    from routeyard.cli import UsageError
    from routeyard.router_data import DataError

    def log(line: str) -> None:
        print(line, file=sys.stderr)

    try:
        document = build_document(args, log)
        text = render(document)
    except (OSError, DataError) as exc:
        raise UsageError(f"router train: data: {exc}") from exc
    except EncoderError as exc:
        raise UsageError(f"router train: encoder: {exc}") from exc
    target = args.out / MODEL_FILE
    if args.check:
        current = target.read_text(encoding="utf-8") if target.is_file() else None
        if current == text:
            print(f"{target}: up to date")
            return 0
        print(f"{target}: differs from what training makes (run make train-router)")
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    copy = document["encoder"]["source"] == "folder"
    if copy and args.encoder_dir is not None and args.encoder_dir.resolve() != args.out.resolve():
        for name in (FOLDER_TOKENIZER, FOLDER_EMBEDDINGS):
            shutil.copyfile(args.encoder_dir / name, args.out / name)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0
