"""The model catalogue: which models a job may name, their limits and their list prices.

The built-in list is ``promptforge/data/models.json``; an operator file of the same shape
adds models or overrides built-in ones (same provider and model)::

    {"models": [{"provider": "openai", "model": "gpt-4o", "context_window": 128000,
                 "max_output_tokens": 16384, "input_usd_per_mtok": 2.5,
                 "output_usd_per_mtok": 10.0}]}

Other top-level keys (``note``, ``as_of``) are free text. Every entry is checked on load;
a bad one stops the load with a ``CatalogueError`` that names the file and the entry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptforge.data import read_text
from promptforge.errors import CatalogueError
from promptforge.providers.registry import SUPPORTED_PROVIDERS

_BUILT_IN = "models.json"
_INT_FIELDS = ("context_window", "max_output_tokens")
_PRICE_FIELDS = ("input_usd_per_mtok", "output_usd_per_mtok")
_FIELDS = frozenset({"provider", "model", *_INT_FIELDS, *_PRICE_FIELDS})


@dataclass(frozen=True)
class ModelInfo:
    """One model: its context window, output cap and price per million tokens in USD."""

    provider: str
    model: str
    context_window: int
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    max_output_tokens: int


class Catalogue:
    """Models by (provider, model); later entries override earlier ones."""

    def __init__(self, models: Iterable[ModelInfo]) -> None:
        self._models: dict[tuple[str, str], ModelInfo] = {}
        for info in models:
            self._models[(info.provider, info.model)] = info

    @classmethod
    def load(cls, extra: Path | None = None) -> Catalogue:
        """The built-in catalogue, merged with the operator's file ``extra`` if given."""
        models = parse_catalogue(read_text(_BUILT_IN), f"built-in {_BUILT_IN}")
        if extra is not None:
            try:
                text = extra.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CatalogueError(f"cannot read model catalogue {extra}: {exc}") from exc
            models += parse_catalogue(text, str(extra))
        return cls(models)

    def find(self, provider: str, model: str) -> ModelInfo | None:
        """The entry for ``provider``/``model``, ``None`` if the catalogue lacks it."""
        return self._models.get((provider, model))

    def models_for(self, provider: str) -> list[str]:
        """The model names known for ``provider``, sorted."""
        return sorted(model for (owner, model) in self._models if owner == provider)

    def __len__(self) -> int:
        return len(self._models)

    @staticmethod
    def estimate_cost(info: ModelInfo, input_tokens: int, output_tokens: int) -> float:
        """The list-price cost in USD of ``input_tokens`` in and ``output_tokens`` out."""
        if input_tokens < 0 or output_tokens < 0:
            raise ValueError(
                f"token counts must not be negative, got {input_tokens} and {output_tokens}"
            )
        return (
            input_tokens * info.input_usd_per_mtok + output_tokens * info.output_usd_per_mtok
        ) / 1_000_000


def parse_catalogue(text: str, source: str) -> list[ModelInfo]:
    """The entries of one catalogue file; ``source`` names it in errors."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CatalogueError(f"{source}: not valid JSON: {exc}") from exc
    entries = data.get("models") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise CatalogueError(f'{source}: expected an object with a "models" list')
    models: list[ModelInfo] = []
    seen: set[tuple[str, str]] = set()
    for index, entry in enumerate(entries):
        info = _parse_entry(entry, f"{source}: models[{index}]")
        key = (info.provider, info.model)
        if key in seen:
            raise CatalogueError(
                f"{source}: models[{index}] ({info.provider}/{info.model}) appears twice"
            )
        seen.add(key)
        models.append(info)
    return models


def _parse_entry(entry: Any, where: str) -> ModelInfo:
    """One entry, checked field by field."""
    if not isinstance(entry, dict):
        raise CatalogueError(f"{where}: expected an object, got {type(entry).__name__}")
    provider, model = entry.get("provider"), entry.get("model")
    if isinstance(provider, str) and isinstance(model, str):
        where = f"{where} ({provider}/{model})"
    missing = sorted(_FIELDS - entry.keys())
    if missing:
        raise CatalogueError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(entry.keys() - _FIELDS)
    if unknown:
        raise CatalogueError(f"{where}: unknown field(s) {', '.join(unknown)}")
    if provider not in SUPPORTED_PROVIDERS:
        raise CatalogueError(
            f"{where}: provider must be one of {', '.join(SUPPORTED_PROVIDERS)}, got {provider!r}"
        )
    if not isinstance(model, str) or not model.strip():
        raise CatalogueError(f"{where}: model must be a non-empty string, got {model!r}")
    for name in _INT_FIELDS:
        value = entry[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CatalogueError(f"{where}: {name} must be a positive integer, got {value!r}")
    for name in _PRICE_FIELDS:
        value = entry[name]
        valid = isinstance(value, int | float) and not isinstance(value, bool)
        if not valid or not math.isfinite(value) or value < 0:
            raise CatalogueError(f"{where}: {name} must be a number >= 0, got {value!r}")
    if entry["max_output_tokens"] > entry["context_window"]:
        raise CatalogueError(f"{where}: max_output_tokens exceeds context_window")
    return ModelInfo(
        provider=provider,
        model=model,
        context_window=entry["context_window"],
        input_usd_per_mtok=float(entry["input_usd_per_mtok"]),
        output_usd_per_mtok=float(entry["output_usd_per_mtok"]),
        max_output_tokens=entry["max_output_tokens"],
    )
