"""Fixtures for tests that run real processes: the session's broker, unique names, clean-up.

Here at the root so that an integration test in any folder (tests/store, tests/routeyard)
shares the one session broker instead of starting its own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.kafka import DevKafka
from devtools.stack import Process, stop_all


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """KAFKA_BOOTSTRAP when set, else a broker of our own for the whole session."""
    given = os.environ.get("KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    with DevKafka() as kafka:
        yield kafka.bootstrap


@pytest.fixture
def test_name(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    # Topic and group names unique per test and per run, so runs never see each other.
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    return f"{base}-{tmp_path.name[-6:]}-{os.getpid()}"


@pytest.fixture(autouse=True)
def _no_process_left_behind() -> Iterator[None]:
    # Tests stop what they start; this catches what a failed assertion skipped. Processes
    # running before the test (a module-scoped stack) are their fixture's to stop.
    before = frozenset(Process.live)
    yield
    stop_all(keep=before)
