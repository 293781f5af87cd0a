"""Images in simulated requests: read each provider's image parts, count their tokens.

Each provider bills an image by its size, by its own rule (from each one's vision docs);
the simulator applies the same rules to the image's pixel size:

    OpenAI     ``detail: low``: 85. Otherwise fit in 2048x2048, scale the short side to 768,
               then 85 + 170 per 512-pixel tile (a 1024x1024 image: 765)
    Anthropic  fit the long side in 1568, then width x height / 750 (1024x1024: 1,399)
    Gemini     258 when both sides are at most 384; else 258 per 768x768 tile (1024x1024: 1,032)
    Mistral    fit in 1024x1024, then one token per 16x16 patch plus one per row of
               patches (1024x1024: 4,160)

The size is read from a data URI's PNG, GIF or JPEG header; an image given by URL (the
simulator fetches nothing) or one whose header it cannot read counts as 1024x1024.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from dataclasses import dataclass

DEFAULT_SIZE = (1024, 1024)
"""The size assumed for an image given by URL, or whose header cannot be read."""


@dataclass(frozen=True)
class SimImage:
    """One image of a request: its pixel size and OpenAI's ``detail`` (if given)."""

    width: int
    height: int
    detail: str | None = None

    @classmethod
    def of(cls, source: str, *, inline: bool, detail: str | None = None) -> SimImage:
        """An image from a URL (``inline=False``) or base64 data (``inline=True``)."""
        size = _size_of(source) if inline else None
        width, height = size or DEFAULT_SIZE
        return cls(width, height, detail)


def image_tokens(provider: str, image: SimImage) -> int:
    """The input tokens ``provider`` bills for ``image`` (the table above)."""
    width, height = image.width, image.height
    if provider == "openai":
        if image.detail == "low":
            return 85
        width, height = _fit(width, height, 2048, 2048)
        short = min(width, height)
        if short > 768:
            width, height = round(width * 768 / short), round(height * 768 / short)
        return 85 + 170 * math.ceil(width / 512) * math.ceil(height / 512)
    if provider == "anthropic":
        width, height = _fit(width, height, 1568, 1568)
        return math.ceil(width * height / 750)
    if provider == "gemini":
        if width <= 384 and height <= 384:
            return 258
        return 258 * math.ceil(width / 768) * math.ceil(height / 768)
    width, height = _fit(width, height, 1024, 1024)  # mistral
    rows = math.ceil(height / 16)
    return math.ceil(width / 16) * rows + rows


def data_uri_payload(url: str) -> str | None:
    """The base64 payload of a ``data:image/...;base64,`` URI, None for anything else."""
    head, sep, payload = url.partition(",")
    if not sep or not head.startswith("data:image/") or not head.endswith(";base64"):
        return None
    return payload


def _fit(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    scale = min(1.0, max_width / max(width, 1), max_height / max(height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _size_of(data: str) -> tuple[int, int] | None:
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    if raw.startswith(b"\x89PNG\r\n\x1a\n") and len(raw) >= 24:
        width, height = struct.unpack(">II", raw[16:24])
        return (width, height) if width and height else None
    if raw[:6] in (b"GIF87a", b"GIF89a") and len(raw) >= 10:
        width, height = struct.unpack("<HH", raw[6:10])
        return (width, height) if width and height else None
    if raw.startswith(b"\xff\xd8"):
        return _jpeg_size(raw)
    return None


_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(raw: bytes) -> tuple[int, int] | None:
    """Walk the JPEG segments to the first start-of-frame, which holds the size."""
    at = 2
    while at + 9 <= len(raw):
        if raw[at] != 0xFF:
            return None
        marker = raw[at + 1]
        length = int.from_bytes(raw[at + 2 : at + 4], "big")
        if marker in _SOF:
            height, width = struct.unpack(">HH", raw[at + 5 : at + 9])
            return (width, height) if width and height else None
        at += 2 + length
    return None
