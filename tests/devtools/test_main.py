"""``python -m devtools``: the development commands, apart from the product CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devtools.__main__ import build_parser
from devtools.chaos import ChaosPlan
from devtools.chaos.cli import plan_from
from tests.paths import ROOT


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # From any folder, as long as the checkout is on the path (it is not installed).
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "devtools", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
        check=False,
    )


def test_help_lists_the_development_commands(tmp_path: Path) -> None:
    result = _run("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "{kafka,demo,chaos}" in result.stdout


def test_kafka_stop_without_a_recorded_broker_is_a_no_op(tmp_path: Path) -> None:
    result = _run("kafka", "stop", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / ".routeyard" / "kafka").exists()


def test_chaos_knobs_override_the_chosen_scale() -> None:
    args = build_parser().parse_args(["chaos", "--small", "--requests", "50", "--kills", "0"])
    assert plan_from(args) == ChaosPlan.small().model_copy(update={"requests": 50, "kills": 0})
    full = build_parser().parse_args(["chaos", "--topology", "single", "--keep"])
    assert plan_from(full) == ChaosPlan(topology="single")
    assert full.keep
