"""``routeyard router calibrate``: tier thresholds that meet a strong-share or cost target.

The sample is a prompt file scored here exactly as ``routeyard score`` does (the scorer
:func:`routeyard.score.scorer_for` builds from the config), or the scores the worker
stored on recent requests' first calls (through the analytics API, like ``report``).
The arithmetic is :mod:`policy.calibration`; this module gathers the sample, prints the
result and, with ``--write``, puts ``router.thresholds`` into a config file
(:mod:`routeyard.thresholds_yaml`). Heavy imports stay inside :func:`run`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from policy.calibration import Calibration, PriceRatio
    from schemas.config import GatewayConfig
    from schemas.router import TierThresholds

DEFAULT_SINCE = "7d"
DEFAULT_LIMIT = 100_000


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="the config whose scorer and prices apply")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--prompts",
        metavar="FILE",
        help='JSON lines {"id", "prompt" or "messages"} as routeyard score reads; - is stdin',
    )
    source.add_argument(
        "--from-store",
        action="store_true",
        help="the scores stored on recent requests (the scorer live at the time gave them)",
    )
    p.add_argument(
        "--since", help=f"--from-store: ISO 8601, now or an age (default {DEFAULT_SINCE})"
    )
    p.add_argument("--until", help="--from-store: ISO 8601, now or an age (default now)")
    p.add_argument(
        "--limit",
        type=int,
        help=f"--from-store: the most recent N requests (default {DEFAULT_LIMIT})",
    )
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--strong-share", type=float, metavar="S", help="share of requests on the complex tier"
    )
    target.add_argument(
        "--cost-ceiling",
        type=float,
        metavar="C",
        help="cost at most this fraction of sending every request to the complex tier",
    )
    p.add_argument(
        "--price-ratio",
        type=float,
        metavar="R",
        help="weak/strong price; default: the simple and complex tiers' route models",
    )
    p.add_argument(
        "--token-mix",
        default="3:1",
        metavar="IN:OUT",
        help="input:output tokens the model prices are blended at (default 3:1)",
    )
    p.add_argument(
        "--moderate-share",
        type=float,
        metavar="M",
        help="share of all requests on the moderate tier; default: keep the sample's current"
        " moderate:simple split",
    )
    p.add_argument("--write", metavar="CONFIG", help="set router.thresholds in this YAML file")
    p.add_argument("--format", choices=["table", "json"], default="table")


@dataclass
class Sample:
    scores: list[float]
    tiers: list[str]
    description: str
    notes: list[str] = field(default_factory=list)
    window: dict[str, str] | None = None


def _usage(message: str) -> Exception:
    from routeyard.cli import UsageError

    return UsageError(f"router calibrate: {message}")


def _from_prompts(config: GatewayConfig, path: str) -> Sample:
    import json
    from contextlib import ExitStack

    from routeyard.score import BadLine, score_lines, scorer_for

    scorer = scorer_for(config)
    name = "<stdin>" if path == "-" else path
    scores: list[float] = []
    tiers: list[str] = []
    bad: list[BadLine] = []
    with ExitStack() as files:
        try:
            source = sys.stdin.buffer if path == "-" else files.enter_context(open(path, "rb"))
        except OSError as exc:
            raise _usage(f"--prompts: {exc}") from exc
        for result in score_lines(source, scorer):
            if isinstance(result, BadLine):
                bad.append(result)
                continue
            doc = json.loads(result)  # score.py's own output line
            scores.append(float(doc["score"]))
            tiers.append(str(doc["tier"]))
    for line in bad:
        print(f"{name}:{line.line}: {line.reason}", file=sys.stderr)
    if bad:
        raise _usage(f"--prompts: {len(bad)} bad lines in {name}; nothing calibrated")
    return Sample(
        scores,
        tiers,
        f"{len(scores)} prompts from {name}, scored as the worker scores them"
        f" (router.scorer: {config.router.scorer})",
    )


def _window(args: argparse.Namespace) -> tuple[str, str]:
    from routeyard.report import ReportArgumentError, parse_time
    from schemas.base import utcnow
    from store.queries import end_of_this_minute, iso_z

    now = utcnow()
    try:
        until = parse_time(args.until, now) if args.until else end_of_this_minute(now)
    except ReportArgumentError as exc:
        raise _usage(f"--until: {exc}") from exc
    try:
        since = parse_time(args.since or DEFAULT_SINCE, now)
    except ReportArgumentError as exc:
        raise _usage(f"--since: {exc}") from exc
    if until <= since:
        raise _usage(f"--until ({iso_z(until)}) must be after --since ({iso_z(since)})")
    return iso_z(since), iso_z(until)


def _from_store(config: GatewayConfig, args: argparse.Namespace) -> Sample:
    from policy.router import PINNED_ROUTE_PREFIX
    from routeyard.analytics_client import AnalyticsUnreachable, fetch_json
    from store.queries import QueryError

    since, until = _window(args)
    limit = DEFAULT_LIMIT if args.limit is None else args.limit
    params = {"since": since, "until": until, "limit": str(limit)}
    try:
        doc = fetch_json(config, "/api/scores", params)
    except QueryError as exc:
        raise _usage(f"--{exc}" if exc.param in params else str(exc)) from exc
    except AnalyticsUnreachable as exc:
        raise _usage(str(exc)) from exc
    scores: list[float] = []
    tiers: list[str] = []
    left_out = 0
    for row in doc["scores"]:
        route = config.route(row["route"])
        # A pinned model or a named route ignores the tiers: their requests cannot move.
        if row["route"].startswith(PINNED_ROUTE_PREFIX) or (route and route.by_name_only):
            left_out += row["requests"]
            continue
        scores += [float(row["score"])] * row["requests"]
        tiers += [str(row["tier"])] * row["requests"]
    notes = [
        "stored scores come from the scorer that was live when each request was triaged;"
        " if the scorer or its model changed in this window, calibrate on --prompts instead"
    ]
    if left_out:
        notes.append(f"{left_out} requests on named routes or pinned models left out")
    if doc["requests"] >= limit:
        notes.append(f"only the most recent {limit} requests read (--limit)")
    return Sample(
        scores,
        tiers,
        f"{len(scores)} requests' stored scores, {doc['since']} to {doc['until']}",
        notes,
        {"since": doc["since"], "until": doc["until"]},
    )


def _token_mix(text: str) -> tuple[int, int]:
    parts = text.split(":")
    try:
        inputs, outputs = (int(p) for p in parts)
    except ValueError as exc:
        raise _usage(f"--token-mix: {text!r} is not IN:OUT whole numbers, e.g. 3:1") from exc
    return inputs, outputs


def _price(config: GatewayConfig, args: argparse.Namespace, notes: list[str]) -> PriceRatio | None:
    from policy.calibration import CalibrationError, PriceRatio, tier_price_ratio

    try:
        if args.price_ratio is not None:
            return PriceRatio(args.price_ratio)
        return tier_price_ratio(config, _token_mix(args.token_mix))
    except CalibrationError as exc:
        flag = "--price-ratio" if args.price_ratio is not None else "--token-mix"
        if exc.field == "price_ratio" and args.price_ratio is None:
            if args.cost_ceiling is not None:
                raise _usage(f"{exc.message}; give --price-ratio") from exc
            notes.append(f"no cost estimate: {exc.message}")
            return None
        raise _usage(f"{flag}: {exc.message}") from exc


def _calibrate(sample: Sample, args: argparse.Namespace, price: PriceRatio | None) -> Calibration:
    from policy.calibration import (
        CalibrationError,
        calibrate,
        calibrate_to_cost,
        moderate_fraction_of,
    )

    share, fraction = args.moderate_share, None
    if share is None:
        fraction = moderate_fraction_of(sample.tiers)
        sample.notes.append(
            f"moderate:simple kept at the sample's current split ({fraction:.1%} of the"
            " requests below complex on moderate); --moderate-share sets it"
        )
    try:
        if args.cost_ceiling is not None:
            assert price is not None  # _price insists on one for a ceiling
            return calibrate_to_cost(
                sample.scores,
                args.cost_ceiling,
                price.ratio,
                moderate_share=share,
                moderate_fraction=fraction,
            )
        return calibrate(
            sample.scores, args.strong_share, moderate_share=share, moderate_fraction=fraction
        )
    except CalibrationError as exc:
        flag = "--prompts" if args.prompts else "--from-store"
        name = flag if exc.field == "scores" else "--" + exc.field.replace("_", "-")
        raise _usage(f"{name}: {exc.message}") from exc


def _write(path: str, thresholds: TierThresholds) -> None:
    from pathlib import Path

    from routeyard.thresholds_yaml import (
        ThresholdsEditError,
        edited,
        read,
        replace_file,
        snippet,
    )
    from schemas.config_loader import ConfigError, parse_config

    target = Path(path)
    try:
        new = edited(read(target), thresholds)
        parse_config(new, path)  # the edited file must still be a config routeyard starts on
        replace_file(target, new)
    except OSError as exc:
        raise _usage(f"--write: {exc}") from exc
    except (ThresholdsEditError, ConfigError) as exc:
        raise _usage(
            f"--write {path}: not edited: {exc}\nput this in it by hand:\n{snippet(thresholds)}"
        ) from exc


def run(args: argparse.Namespace) -> int:
    from policy.calibration import score_bound_routes
    from routeyard.calibrate_output import document, table
    from schemas.config_loader import load_config

    if not args.from_store and (args.since or args.until or args.limit is not None):
        raise _usage("--since, --until and --limit apply to --from-store only")
    config = load_config(args.config)
    price_notes: list[str] = []
    price = _price(config, args, price_notes)
    sample = _from_prompts(config, args.prompts) if args.prompts else _from_store(config, args)
    sample.notes += price_notes
    result = _calibrate(sample, args, price)
    bound = score_bound_routes(config)
    if bound:
        sample.notes.append(
            f"routes {', '.join(bound)} match on min/max_complexity: these thresholds do not"
            " move them"
        )
    if args.write:
        _write(args.write, result.thresholds)
    doc = document(sample, args, config, result, price)
    print(table(doc) if args.format == "table" else _json(doc))
    return 0


def _json(doc: dict[str, Any]) -> str:
    import json

    return json.dumps(doc, indent=2)
