"""A simulated 10M-prompt job's finalize plan on a fake clock: no step over its time limit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from promptforge.clock import FakeClock
from promptforge.core.finalize_plan import FinalizeStep, StepCosts, plan_finalize, step_seconds

TEN_MILLION = 10_000_000
LINES_PER_PART = 10_000  # CoreConfig.lines_per_part
STEP_LIMIT = 30 * 60.0  # Cloud Tasks' longest dispatch deadline (gcp/cloud_tasks.LONG_DEADLINE)
PARALLEL = 100  # steps of one level running at once (the control queue's concurrency)


def _outcomes(step: FinalizeStep) -> int:
    assert step.lines is not None
    return step.lines[1] - step.lines[0]


def _run(levels: list[list[FinalizeStep]], clock: FakeClock) -> dict[str, float]:
    """Run the plan level by level, ``PARALLEL`` steps at a time; each step's seconds."""
    took: dict[str, float] = {}
    for level in levels:
        for start in range(0, len(level), PARALLEL):
            wave = level[start : start + PARALLEL]
            for step in wave:
                outcomes = _outcomes(step) if step.kind == "part" else 0
                took[step.name] = step_seconds(step, outcomes)
            clock.advance(max(took[step.name] for step in wave))
    return took


def test_a_ten_million_prompt_finalize_has_no_step_over_its_limit() -> None:
    clock = FakeClock()
    began = clock.now()
    levels = plan_finalize(TEN_MILLION, LINES_PER_PART)
    took = _run(levels, clock)

    assert max(took.values()) <= STEP_LIMIT, max(took.items(), key=lambda item: item[1])
    assert max(took.values()) < 60.0  # far inside: a part reads 20 pages of 500 outcomes
    parts = levels[0]
    assert len(parts) == 1_000
    covered = [line for step in parts for line in range(*(step.lines or (0, 0)))]
    assert covered == list(range(1, TEN_MILLION + 1))  # every line in exactly one part
    assert [len(level) for level in levels[1:]] == [32, 1, 1]  # merges of 32, then the end
    assert all(len(step.sources) <= 32 for level in levels[1:] for step in level)
    assert clock.now() - began < timedelta(minutes=15)


def test_the_single_step_finalize_of_today_would_overrun_the_same_limit() -> None:
    """The cost model is not lenient: one step over all 10M outcomes (today's finalize)."""
    (only,) = plan_finalize(TEN_MILLION, TEN_MILLION)[0]
    assert step_seconds(only, TEN_MILLION) > 2 * STEP_LIMIT


def test_a_replayed_step_redoes_only_itself() -> None:
    """A part that dies half-way and runs again costs that part twice, not the job again."""
    levels = plan_finalize(TEN_MILLION, LINES_PER_PART)
    clock, again = FakeClock(), FakeClock()
    _run(levels, clock)
    replayed = [[*levels[0], levels[0][417]], *levels[1:]]
    took = _run(replayed, again)
    extra = (again.now() - clock.now()).total_seconds()
    assert 0 <= extra <= took[levels[0][417].name]


@pytest.mark.parametrize(("last_line", "parts"), [(1, 1), (9_999, 1), (10_001, 2)])
def test_small_jobs_plan_a_part_a_merge_level_only_when_needed(last_line: int, parts: int) -> None:
    levels = plan_finalize(last_line, LINES_PER_PART)
    assert len(levels[0]) == parts
    assert levels[-1][0].kind == "end"
    assert len(levels) == (2 if parts == 1 else 3)
    assert levels[0][-1].lines is not None and levels[0][-1].lines[1] == last_line + 1


def test_costs_are_the_model_of_the_issue() -> None:
    costs = StepCosts()
    assert TEN_MILLION * costs.decode_seconds == pytest.approx(700.0)
