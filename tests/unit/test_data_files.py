"""The package's data files: each loads through ``promptforge.data`` into what the code uses."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from promptforge import data
from promptforge.bench.prompts import example_prompt_lines
from promptforge.sim.rates import scenarios
from promptforge.sim.rates.scenarios import SCENARIOS, load_scenarios
from promptforge.sim.rates.signals import Style


def test_rate_scenarios_file_holds_the_ten_scenarios_in_order() -> None:
    assert [s.title.split(".")[0] for s in SCENARIOS.values()] == [str(n) for n in range(1, 11)]
    assert load_scenarios() == SCENARIOS


def test_rate_scenarios_keep_their_nested_parts() -> None:
    doubles = SCENARIOS["limit-doubles"]
    assert doubles.provider.style is Style.GEMINI
    assert [(at, spec.rpm) for at, spec in doubles.provider.changes] == [(240.0, 1_000)]
    halves = SCENARIOS["limit-halves"].provider.background
    assert [(b.start, b.rpm) for b in halves] == [(240.0, 500)]
    assert SCENARIOS["tpm-bound"].workload.max_tokens == 1_000


def test_every_scenario_key_is_a_field() -> None:
    # A misspelt key must fail the load, not fall back silently to a default.
    raw = data.load_json("rate_scenarios.json")
    raw["scenarios"][0]["provider"]["latency_medain"] = 2.0
    with pytest.raises(TypeError, match="latency_medain"):
        scenarios._scenario(raw["scenarios"][0])


def test_example_prompt_lines_are_json_with_a_prompt() -> None:
    lines = example_prompt_lines(5)
    assert len(lines) == 5
    assert all(isinstance(json.loads(line)["prompt"], str) for line in lines)
    assert len(example_prompt_lines()) > 1_000


def test_example_prompts_are_what_the_script_builds_from_their_parts() -> None:
    # The shipped prompts are generated from data/example_prompt_parts.json: editing the
    # parts without regenerating (or the reverse) leaves the two out of step.
    path = Path(__file__).resolve().parents[2] / "scripts/make_example_prompts.py"
    spec = importlib.util.spec_from_file_location("make_example_prompts", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    built = [json.dumps(row, ensure_ascii=False) for row in script.build()]
    assert built == example_prompt_lines(), "run scripts/make_example_prompts.py"
