"""Small real images for tests: PNG files of a chosen size, as bytes and as data URIs."""

from __future__ import annotations

import base64
import struct
import zlib


def png(width: int, height: int) -> bytes:
    """A valid greyscale PNG of ``width`` x ``height`` pixels (all black)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + bytes(width) for _ in range(height)))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def data_uri(raw: bytes, media_type: str = "image/png") -> str:
    """``data:<media_type>;base64,<raw>``."""
    return f"data:{media_type};base64,{base64.b64encode(raw).decode()}"


def image_line(prompt_id: str, url: str, text: str = "What is in this image?") -> dict[str, object]:
    """A chat line asking about one image."""
    return {
        "prompt_id": prompt_id,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": text},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
    }
