"""The estimate bench end to end, small: its bracket holds and its capped run stops."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptforge.bench.estimate import report_section, run_estimate_bench

pytestmark = pytest.mark.anyio


async def test_a_small_estimate_bench(tmp_path: Path) -> None:
    figures = await run_estimate_bench(80, 32, tmp_path)
    assert figures.bracketed
    assert figures.uncapped_results == 80
    assert figures.estimate["input_tokens"] == figures.actual_input_tokens
    assert figures.capped["stopped_reason"] == "budget"
    assert figures.capped["spent_usd"] <= figures.cap_usd
    assert figures.capped_results + sum(figures.capped_errors.values()) == 80
    assert figures.capped_errors.get("budget_exceeded", 0) > 0
    assert "bracket holds | yes" in report_section(figures)
