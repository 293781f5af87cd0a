"""Reading what a provider sent back, for every adapter: JSON or not, and a snippet for messages."""

from __future__ import annotations

import json
from typing import Any

SNIPPET_CHARS = 300
"""How much of an unreadable body an error message quotes."""


def decode_json(body: bytes) -> Any:
    """The JSON value of ``body``, ``None`` when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def snippet(body: bytes) -> str:
    """The start of a body, for a message that has nothing better."""
    return body[:SNIPPET_CHARS].decode("utf-8", errors="replace").strip()


def fallback_message(status: int, body: bytes) -> str:
    """A message for an error body that carries none: the status and the start of the body."""
    start = snippet(body)
    return f"HTTP {status}: {start}" if start else f"HTTP {status}"
