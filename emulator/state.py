"""The emulator's per-app state: call counters, seeded randomness, the timed overrides the
controls set (emulator/controls.py), and what a hung call waits on.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

from aiohttp import web

from emulator.base import ChatCall
from emulator.profile import EmulatorConfig, ErrorStatus
from emulator.stats import Stats

# Offsets the id stream from the fault stream so adding an id never shifts a fault.
_ID_SEED_SALT = 0x5EED
# Prompt caching as OpenAI reports it: from 1,024 tokens, in steps of 128, on a repeat.
_CACHE_MIN_TOKENS = 1024
_CACHE_STEP = 128


class EmulatorState:
    """Everything a handler needs; one per app."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.stats = Stats()
        self.faults = random.Random(config.seed)
        self.ids = random.Random(config.seed ^ _ID_SEED_SALT)
        self.closing = asyncio.Event()
        self.seen_prompts: set[tuple[str, str]] = set()
        self.outage_until = 0.0  # time.monotonic() at which the outage ends
        # Upstream model -> (HTTP status every call gets, time.monotonic() it ends).
        self.forced: dict[str, tuple[ErrorStatus, float]] = {}
        # Upstream model -> (latency in seconds every call takes, time.monotonic() it ends).
        self.slowed: dict[str, tuple[float, float]] = {}

    def in_outage(self) -> bool:
        return time.monotonic() < self.outage_until

    def forced_status(self, model: str) -> ErrorStatus | None:
        found = self.forced.get(model)
        if found is None or time.monotonic() >= found[1]:
            return None
        return found[0]

    def forced_latency_s(self, model: str) -> float | None:
        found = self.slowed.get(model)
        if found is None or time.monotonic() >= found[1]:
            return None
        return found[0]

    def cached_tokens(self, call: ChatCall) -> int:
        """Tokens a provider would serve from its prompt cache: a repeated long prompt."""
        key = (call.model, call.prompt)
        if key not in self.seen_prompts:
            self.seen_prompts.add(key)
            return 0
        if call.prompt_tokens < _CACHE_MIN_TOKENS:
            return 0
        return call.prompt_tokens - call.prompt_tokens % _CACHE_STEP

    def new_id(self, prefix: str, hex_chars: int = 24) -> str:
        return f"{prefix}{self.ids.getrandbits(hex_chars * 4):0{hex_chars}x}"

    async def hang(self, seconds: float) -> None:
        """Sleep like a stuck upstream, but let go when the server shuts down."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), seconds)


STATE = web.AppKey("emulator_state", EmulatorState)
