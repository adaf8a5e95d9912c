import base64
import struct

import pytest

from policy.image_tokens import (
    UNKNOWN_SIZE,
    anthropic_area,
    gemini_tiles,
    image_size,
    image_tokens,
    openai_tiles,
    pixtral_patches,
)


def _png(width: int, height: int) -> str:
    ihdr = struct.pack(">II", width, height) + b"\x08\x06\x00\x00\x00"
    body = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\x00" * 4
    return base64.b64encode(body).decode()


def _jpeg(width: int, height: int, exif: int = 0) -> str:
    app1 = b"\xff\xe1" + struct.pack(">H", exif + 2) + b"\x00" * exif
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x00" * 9
    return base64.b64encode(b"\xff\xd8" + app1 + sof0 + b"\xff\xd9").decode()


def _gif(width: int, height: int) -> str:
    return base64.b64encode(b"GIF89a" + struct.pack("<HH", width, height) + b"\x00" * 8).decode()


def _webp_vp8x(width: int, height: int) -> str:
    body = b"VP8X" + struct.pack("<I", 10) + b"\x00" * 4
    body += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return base64.b64encode(b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body).decode()


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (_png(1024, 768), (1024, 768)),
        (_jpeg(640, 480), (640, 480)),
        (_jpeg(3000, 2000, exif=60_000), (3000, 2000)),  # size marker after a large EXIF block
        (_gif(31, 17), (31, 17)),
        (_webp_vp8x(1920, 1080), (1920, 1080)),
    ],
    ids=["png", "jpeg", "jpeg-exif", "gif", "webp"],
)
def test_image_size_reads_the_header(data: str, size: tuple[int, int]) -> None:
    assert image_size(data) == size


@pytest.mark.parametrize("data", ["bm90IGFuIGltYWdl", "!!!", ""], ids=["text", "bad", "empty"])
def test_unreadable_header_gives_no_size(data: str) -> None:
    assert image_size(data) is None


def test_openai_tile_rule_matches_its_documented_examples() -> None:
    assert openai_tiles(1024, 1024) == 765  # 768x768: 4 tiles
    assert openai_tiles(2048, 4096) == 1105  # 768x1536: 6 tiles
    assert openai_tiles(100, 100) == 255  # one tile
    assert max(openai_tiles(w, 2048) for w in range(64, 2049, 64)) <= UNKNOWN_SIZE["openai_tiles"]


def test_anthropic_area_rule() -> None:
    assert anthropic_area(1000, 1000) == 1334  # Anthropic's documented ~1334 for 1000x1000
    assert anthropic_area(8000, 8000) <= UNKNOWN_SIZE["anthropic_area"]


def test_gemini_and_pixtral_rules() -> None:
    assert gemini_tiles(384, 384) == 258
    assert gemini_tiles(1920, 1080) == 6 * 258
    assert pixtral_patches(1024, 1024) == 64 * 64 + 64
    assert pixtral_patches(4096, 4096) == UNKNOWN_SIZE["pixtral_patches"]


def test_unknown_size_costs_the_rules_maximum() -> None:
    assert image_tokens("openai_tiles", None) == 1445
    assert image_tokens("max", None) == max(UNKNOWN_SIZE.values())
    assert image_tokens("max", (1024, 1024)) == pixtral_patches(1024, 1024)
