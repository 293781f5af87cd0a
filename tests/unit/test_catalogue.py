"""The model catalogue: the built-in file, operator overrides, validation and cost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from promptforge.errors import CatalogueError
from promptforge.providers.catalogue import Catalogue, ModelInfo
from promptforge.providers.registry import SUPPORTED_PROVIDERS

SEED_MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4-turbo"),
    ("anthropic", "claude-3-5-sonnet-20241022"),
    ("anthropic", "claude-3-haiku-20240307"),
    ("gemini", "gemini-1.5-pro"),
    ("gemini", "gemini-1.5-flash"),
    ("mistral", "mistral-large-latest"),
    ("mistral", "mistral-small-latest"),
]


def _entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "provider": "openai",
        "model": "gpt-test",
        "context_window": 8192,
        "max_output_tokens": 4096,
        "input_usd_per_mtok": 1.0,
        "output_usd_per_mtok": 2.0,
    }
    entry.update(overrides)
    return entry


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "models.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(("provider", "model"), SEED_MODELS)
def test_builtin_catalogue_has_the_seed_models(provider: str, model: str) -> None:
    info = Catalogue.load().find(provider, model)
    assert info is not None
    assert (info.provider, info.model) == (provider, model)
    assert 0 < info.max_output_tokens <= info.context_window
    assert info.input_usd_per_mtok > 0 and info.output_usd_per_mtok >= info.input_usd_per_mtok


def test_every_supported_provider_has_models() -> None:
    catalogue = Catalogue.load()
    for provider in SUPPORTED_PROVIDERS:
        assert len(catalogue.models_for(provider)) >= 2, provider


def test_models_for_is_sorted_and_per_provider() -> None:
    catalogue = Catalogue(
        [
            ModelInfo("openai", "b", 10, 1.0, 1.0, 5),
            ModelInfo("mistral", "x", 10, 1.0, 1.0, 5),
            ModelInfo("openai", "a", 10, 1.0, 1.0, 5),
        ]
    )
    assert catalogue.models_for("openai") == ["a", "b"]
    assert catalogue.models_for("gemini") == []
    assert catalogue.find("openai", "x") is None
    assert len(catalogue) == 3


def test_an_operator_file_adds_and_overrides(tmp_path: Path) -> None:
    builtin = Catalogue.load()
    path = _write(
        tmp_path,
        {
            "note": "ours",
            "models": [
                _entry(model="gpt-4o", input_usd_per_mtok=1.25, output_usd_per_mtok=5),
                _entry(provider="mistral", model="my-finetune", context_window=32768),
            ],
        },
    )
    merged = Catalogue.load(path)
    assert len(merged) == len(builtin) + 1
    gpt4o = merged.find("openai", "gpt-4o")
    assert gpt4o is not None and (gpt4o.input_usd_per_mtok, gpt4o.output_usd_per_mtok) == (1.25, 5)
    assert merged.find("mistral", "my-finetune") == ModelInfo(
        "mistral", "my-finetune", 32768, 1.0, 2.0, 4096
    )
    assert merged.find("openai", "gpt-4o-mini") == builtin.find("openai", "gpt-4o-mini")


def test_estimate_cost() -> None:
    info = ModelInfo(
        "openai",
        "m",
        128000,
        input_usd_per_mtok=2.0,
        output_usd_per_mtok=8.0,
        max_output_tokens=16384,
    )
    assert Catalogue.estimate_cost(info, 250_000, 125_000) == pytest.approx(1.5)
    assert Catalogue.estimate_cost(info, 0, 0) == 0.0
    assert Catalogue.estimate_cost(info, 1, 0) == pytest.approx(2e-6)
    with pytest.raises(ValueError, match="negative"):
        Catalogue.estimate_cost(info, -1, 0)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"models": [_entry(provider="cohere")]}, "models[0] (cohere/gpt-test): provider must be"),
        ({"models": [_entry(input_usd_per_mtok=-1)]}, "models[0] (openai/gpt-test): input_usd"),
        ({"models": [_entry(output_usd_per_mtok="2.0")]}, "output_usd_per_mtok must be a number"),
        ({"models": [_entry(context_window=0)]}, "context_window must be a positive integer"),
        ({"models": [_entry(context_window=True)]}, "context_window must be a positive integer"),
        ({"models": [_entry(max_output_tokens=1.5)]}, "max_output_tokens must be a positive"),
        ({"models": [_entry(max_output_tokens=9000)]}, "max_output_tokens exceeds context_window"),
        ({"models": [_entry(model="")]}, "model must be a non-empty string"),
        ({"models": [_entry(), _entry(price=1)]}, "models[1] (openai/gpt-test): unknown field"),
        ({"models": [{"provider": "openai", "model": "m"}]}, "(openai/m): missing context_window"),
        ({"models": [_entry(), _entry()]}, "models[1] (openai/gpt-test) appears twice"),
        ({"models": ["gpt-4o"]}, "models[0]: expected an object, got str"),
        ({"model": []}, 'expected an object with a "models" list'),
        ([_entry()], 'expected an object with a "models" list'),
    ],
)
def test_invalid_entries_are_named(tmp_path: Path, data: Any, fragment: str) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(CatalogueError) as caught:
        Catalogue.load(path)
    assert str(path) in str(caught.value)
    assert fragment in str(caught.value)


def test_unreadable_files_are_catalogue_errors(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="cannot read"):
        Catalogue.load(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"models": [', encoding="utf-8")
    with pytest.raises(CatalogueError, match="not valid JSON"):
        Catalogue.load(broken)
