"""A detached development broker for ``python -m devtools kafka start|stop``.

State lives in one folder (e.g. ``.routeyard/kafka``): ``pid``, ``bootstrap`` and the
broker's ``data/``. A recorded pid is only ever signalled while its command line still
names this folder's server.properties, so a reused pid is never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from devtools.kafka.broker import PROPERTIES_FILE, DevKafka

_STOP_GRACE_S = 20.0


def main_start(state_dir: Path) -> str:
    """Start a detached broker for the demo, or reuse the one already recorded; return it.

    ``state_dir`` (e.g. ``.routeyard/kafka``) receives ``pid``, ``bootstrap`` and ``data/``.
    """
    recorded = _recorded_broker(state_dir)
    if recorded is not None:
        return recorded[1]
    _clear_state(state_dir)
    kafka = DevKafka(state_dir / "data", detached=True)
    kafka.start()
    (state_dir / "bootstrap").write_text(kafka.bootstrap + "\n")
    (state_dir / "pid").write_text(f"{kafka.pid}\n")
    return kafka.bootstrap


def main_stop(state_dir: Path) -> None:
    """Stop the broker ``main_start`` recorded in ``state_dir`` and remove its state."""
    recorded = _recorded_broker(state_dir)
    if recorded is not None:
        pid = recorded[0]
        marker = _properties_marker(state_dir)
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE_S
        while _is_our_broker(pid, marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _is_our_broker(pid, marker):
            _signal(pid, signal.SIGKILL)
    _clear_state(state_dir)
    with contextlib.suppress(OSError):
        state_dir.rmdir()  # only if nothing else lives there


def _recorded_broker(state_dir: Path) -> tuple[int, str] | None:
    """The (pid, bootstrap) in ``state_dir`` if that pid is still our broker, else None."""
    try:
        pid = int((state_dir / "pid").read_text().strip())
        bootstrap = (state_dir / "bootstrap").read_text().strip()
    except (OSError, ValueError):
        return None
    # The pid may have been reused by an unrelated process since it was recorded.
    if _is_our_broker(pid, _properties_marker(state_dir)):
        return pid, bootstrap
    return None


def _properties_marker(state_dir: Path) -> str:
    # The broker's argv names this file, which ties the pid to this state dir.
    return str((state_dir / "data" / PROPERTIES_FILE).resolve())


def _clear_state(state_dir: Path) -> None:
    # Only our own entries: state_dir may be shared with other tools' files.
    for name in ("pid", "bootstrap"):
        (state_dir / name).unlink(missing_ok=True)
    shutil.rmtree(state_dir / "data", ignore_errors=True)
    state_dir.mkdir(parents=True, exist_ok=True)


def _signal(pid: int, sig: signal.Signals) -> None:
    # It may exit on its own between our check and the signal.
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _is_our_broker(pid: int, properties_path: str) -> bool:
    args = _cmdline(pid)
    return args is not None and "kafka.Kafka" in args and properties_path in args


def _cmdline(pid: int) -> list[str] | None:
    """The argv of a live process, or None if it is gone (zombies count as gone)."""
    proc = Path(f"/proc/{pid}/cmdline")
    if Path("/proc/self").exists():
        try:
            raw = proc.read_bytes()
        except OSError:
            return None
        return raw.decode(errors="replace").split("\0")[:-1] or None
    # No procfs (macOS): `ps` prints nothing for a missing pid.
    result = subprocess.run(
        ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    text = result.stdout.strip()
    return text.split() if result.returncode == 0 and text and "<defunct>" not in text else None
