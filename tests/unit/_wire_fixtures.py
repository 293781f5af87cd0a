"""Recorded provider responses under ``tests/fixtures/providers/<provider>/*.json``.

Each file is ``{"status", "headers", "body"}`` with ``body`` a JSON value, or
``"body_text"`` for a body that is not JSON (an HTML gateway page, a truncated reply).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"


@dataclass(frozen=True)
class WireFixture:
    """One recorded response, as ``parse_response`` receives it."""

    name: str
    status: int
    headers: dict[str, str]
    body: bytes


def fixture_paths(provider: str) -> list[Path]:
    """Every fixture file of ``provider``, sorted by name."""
    return sorted((FIXTURES / provider).glob("*.json"))


def load_fixture(path: Path) -> WireFixture:
    """Read one fixture file; header names are lower-cased as ``providers/http.py`` does."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if "body_text" in data:
        body = data["body_text"].encode("utf-8")
    else:
        body = json.dumps(data["body"]).encode("utf-8")
    headers = {name.lower(): value for name, value in data["headers"].items()}
    return WireFixture(path.stem, data["status"], headers, body)
