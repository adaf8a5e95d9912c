"""JSON for request bodies: orjson, except for integers it cannot hold.

orjson encodes integers up to 64 bits. A tool argument or a JSON schema may carry a larger
one (a 128-bit id written as a number): valid JSON that the request schema accepts, so it
must be sent, not crash the call. The standard library encodes any integer.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:
        # orjson's only refusal for data that came from a validated request.
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
