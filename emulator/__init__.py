"""A provider emulator: every wire format the adapters speak, with injected faults.

It answers deterministically from the request so tests and load runs can assert on
content, and injects latency and errors from a seeded profile so runs repeat.

Each wire format is a subpackage laid out like ``adapters/``: ``wire.py`` (routes,
header checks, reply and error rendering) and ``parse.py`` (request checks, reduced to
an :class:`emulator.base.ChatCall`), plus ``bedrock/shapes.py``. ``emulator.registry``
lists the wires ``emulator.server`` mounts on one port.
"""
