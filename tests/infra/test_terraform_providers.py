"""Terraform's provider list is the library's (``promptforge.providers.registry``)."""

from __future__ import annotations

import re
from pathlib import Path

from promptforge.providers.registry import SUPPORTED_PROVIDERS
from tests.infra._hcl import Block, load_tree, unquote

INFRA = Path(__file__).resolve().parents[2] / "infra"


def _provider_variables() -> list[Block]:
    found = load_tree(INFRA).of("variable", "llm_providers")
    assert found, "no variable llm_providers under infra/"
    return found


def test_the_default_lists_every_provider_in_the_registry_order() -> None:
    for variable in _provider_variables():
        assert [unquote(p) for p in variable.body["default"]] == list(SUPPORTED_PROVIDERS)


def test_the_validation_accepts_exactly_the_registry() -> None:
    for variable in _provider_variables():
        for rule in variable.body.get("validation", []):
            allowed = re.search(r"contains\(\[([^\]]*)\]", str(rule["condition"]))
            assert allowed, f"no contains([...]) list in {rule['condition']}"
            assert re.findall(r'"([^"]+)"', allowed.group(1)) == list(SUPPORTED_PROVIDERS)
            assert ", ".join(SUPPORTED_PROVIDERS) in str(rule["error_message"])
