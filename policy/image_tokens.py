"""Input tokens an image costs, per provider family, from its pixel size.

The size is read from the image header of inline (base64) data: PNG, GIF, WebP and JPEG,
decoding at most :data:`HEADER_BYTES` bytes of the file. An image given by URL, or one
whose header cannot be read, costs the largest figure its family's rule can produce, so
an unknown image never makes an estimate low.

The rules, from each provider's documentation of image input:

- ``openai_tiles`` (GPT-4o-style "high"/"auto" detail): fit within 2048x2048, scale down
  so the short side is at most 768, then 85 + 170 per 512-pixel tile. Largest: 1445.
- ``anthropic_area``: fit the long side within 1568 and the area within about 1.15 MP,
  then width x height / 750 (at most 1534); an unknown size costs 1600, the ceiling
  Anthropic documents.
- ``gemini_tiles``: 258 for an image at most 384 on both sides, else 258 per 768x768 tile.
  Google documents no upper bound; an unknown size is taken as a 1920x1080 image's 6
  tiles (1548).
- ``pixtral_patches`` (Mistral's vision models): fit within 1024x1024, one token per
  16x16 patch plus one per row of patches. Largest: 4160.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Callable
from typing import Literal

ImageRule = Literal["openai_tiles", "anthropic_area", "gemini_tiles", "pixtral_patches", "max"]

# Enough for a JPEG whose size marker follows a 64 KB EXIF block.
HEADER_BYTES = 96 * 1024


def _png(head: bytes) -> tuple[int, int] | None:
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and len(head) >= 24:
        width, height = struct.unpack(">II", head[16:24])
        return width, height
    return None


def _gif(head: bytes) -> tuple[int, int] | None:
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        width, height = struct.unpack("<HH", head[6:10])
        return width, height
    return None


def _webp(head: bytes) -> tuple[int, int] | None:
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP" or len(head) < 30:
        return None
    chunk = head[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


# Start-of-frame markers carry the size; C4 (Huffman tables), C8 and CC are not frames.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg(head: bytes) -> tuple[int, int] | None:
    if head[:2] != b"\xff\xd8":
        return None
    at = 2
    while at + 9 <= len(head):
        if head[at] != 0xFF:
            return None
        marker = head[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker in _SOF:
            height, width = struct.unpack(">HH", head[at + 5 : at + 9])
            return width, height
        at += 2 + int.from_bytes(head[at + 2 : at + 4], "big")
    return None


def image_size(data: str) -> tuple[int, int] | None:
    """(width, height) from base64 image data, or None when the header is not readable."""
    prefix = data[: HEADER_BYTES // 3 * 4]
    try:
        head = base64.b64decode(prefix, validate=False)
    except (binascii.Error, ValueError):
        return None
    for reader in (_png, _jpeg, _gif, _webp):
        size = reader(head)
        if size is not None and size[0] > 0 and size[1] > 0:
            return size
    return None


def _scaled(width: int, height: int, limit: float) -> tuple[float, float]:
    factor = min(1.0, limit / max(width, height))
    return width * factor, height * factor


def openai_tiles(width: int, height: int) -> int:
    w, h = _scaled(width, height, 2048)
    short_side = min(w, h)
    if short_side > 768:
        w, h = w * 768 / short_side, h * 768 / short_side
    return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)


def anthropic_area(width: int, height: int) -> int:
    w, h = _scaled(width, height, 1568)
    area_limit = 1_150_000
    if w * h > area_limit:
        shrink = math.sqrt(area_limit / (w * h))
        w, h = w * shrink, h * shrink
    return math.ceil(w * h / 750)


def gemini_tiles(width: int, height: int) -> int:
    if width <= 384 and height <= 384:
        return 258
    return 258 * math.ceil(width / 768) * math.ceil(height / 768)


def pixtral_patches(width: int, height: int) -> int:
    w, h = _scaled(width, height, 1024)
    rows = math.ceil(h / 16)
    return math.ceil(w / 16) * rows + rows


_RULES: dict[ImageRule, Callable[[int, int], int]] = {
    "openai_tiles": openai_tiles,
    "anthropic_area": anthropic_area,
    "gemini_tiles": gemini_tiles,
    "pixtral_patches": pixtral_patches,
}
UNKNOWN_SIZE: dict[ImageRule, int] = {
    "openai_tiles": 1445,
    "anthropic_area": 1600,
    "gemini_tiles": 6 * 258,
    "pixtral_patches": 4160,
}
UNKNOWN_SIZE["max"] = max(UNKNOWN_SIZE.values())


def image_tokens(rule: ImageRule, size: tuple[int, int] | None) -> int:
    """Tokens for one image of ``size`` (None: unknown) under ``rule``; ``max`` takes the
    largest of the family rules, for a model whose rule is not known."""
    if size is None:
        return UNKNOWN_SIZE[rule]
    if rule == "max":
        return max(fn(*size) for fn in _RULES.values())
    return _RULES[rule](*size)
