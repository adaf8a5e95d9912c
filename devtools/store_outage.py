"""A real outage of the embedded store: another process holds its folder's lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_HOLD = (
    "import sys; from chdb import session; s = session.Session(sys.argv[1]);"
    " print('held', flush=True); sys.stdin.read()"
)


class StoreOutage:
    """While alive, no other process can open ``path``; ``end()`` lets go."""

    def __init__(self, path: Path) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _HOLD, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if line != "held":
            self.end()
            raise RuntimeError(f"could not hold the store folder {path}: {line!r}")

    def end(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()
        self._proc.wait(30)

    def __enter__(self) -> StoreOutage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.end()
