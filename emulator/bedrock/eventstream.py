"""AWS event-stream messages, the binary framing of Bedrock's ConverseStream.

A message is a prelude (total length, headers length, the prelude's CRC32), headers
(name, type 7 = string, value), the payload and a CRC32 of everything before it, all
big-endian. botocore only parses this framing (``botocore.eventstream``); the emulator
writes it here, and the tests read every message back with botocore's parser.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping

import orjson

CONTENT_TYPE = "application/vnd.amazon.eventstream"
_STRING = 7


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    encoded = b"".join(_header(name, value) for name, value in headers.items())
    # Prelude (12 bytes), headers, payload and the trailing CRC (4 bytes).
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(event_type: str, payload: Mapping[str, object]) -> bytes:
    """An ``event`` message of ``event_type`` (a member of the output's event union)."""
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_message(headers, orjson.dumps(payload))


def exception(exception_type: str, message: str) -> bytes:
    """A modelled error sent mid-stream, e.g. ``throttlingException``."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, orjson.dumps({"message": message}))


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack(">B", len(raw_name))
        + raw_name
        + struct.pack(">BH", _STRING, len(raw_value))
        + raw_value
    )
