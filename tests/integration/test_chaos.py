"""The chaos scenario at CI scale: crashes, a provider outage and a store outage lose
nothing, answer every request once, and leave one usage row per provider call."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.chaos import ChaosPlan, render, run_chaos

pytestmark = pytest.mark.integration


async def test_chaos_small(kafka_bootstrap: str, test_name: str, tmp_path: Path) -> None:
    result = await run_chaos(ChaosPlan.small(), kafka_bootstrap, tmp_path, test_name)
    report = render(result)
    print(report)
    assert not result.lost, report
    assert not result.conflicting, report
    assert not result.bad_missing, report
    # Every call the provider saw has its usage row; only a call cut short by a kill
    # between recording and sending may be a row without a call (shown as interrupted).
    assert result.usage_matches_calls(), report
    assert result.completed_calls <= result.provider_calls, report
