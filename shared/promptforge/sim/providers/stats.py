"""What the simulator served: per-provider counters and calls per prompt.

Per provider, ``requests`` = ``successes`` + ``rate_limited`` + ``errors`` + ``rejected``
(+ calls in flight). ``errors`` are injected faults (5xx, 529, dropped connections,
hangs the client gave up on); ``rejected`` are 4xx (auth, malformed requests).
``calls_per_prompt`` counts successful (billed) calls per prompt, keyed by
sha256(prompt text)[:16]: any count above one is a duplicate paid request.
``attempts_per_prompt`` counts every call that got past authentication and parsing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from promptforge.sim.providers.config import PROVIDERS


@dataclass
class ProviderStats:
    """Counters for one provider."""

    requests: int = 0
    successes: int = 0
    rate_limited: int = 0
    errors: int = 0
    rejected: int = 0
    server_errors: int = 0
    overloaded: int = 0
    dropped: int = 0
    timeouts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    image_tokens: int = 0
    """Of ``input_tokens``, what images cost (``sim.providers.images``)."""
    off_schema: int = 0
    """Answers to a JSON-schema request that missed the schema on purpose (``off_schema_rate``)."""


class SimStats:
    """All counters, resettable."""

    def __init__(self) -> None:
        self.providers: dict[str, ProviderStats] = {}
        self.calls_per_prompt: Counter[str] = Counter()
        self.attempts_per_prompt: Counter[str] = Counter()
        self.reset()

    def reset(self) -> None:
        """Zero everything."""
        self.providers = {name: ProviderStats() for name in PROVIDERS}
        self.calls_per_prompt.clear()
        self.attempts_per_prompt.clear()

    def to_dict(self) -> dict[str, Any]:
        """JSON form: one object per provider, then the per-prompt counts."""
        data: dict[str, Any] = {name: asdict(stats) for name, stats in self.providers.items()}
        data["calls_per_prompt"] = dict(self.calls_per_prompt)
        data["attempts_per_prompt"] = dict(self.attempts_per_prompt)
        return data
