"""The plan of a fanned-out finalize: steps that each fit in one task's time limit.

Today's finalize (``core.finalize``) merges every outcome in one task under the
30-minute dispatch deadline: a 10M-prompt job needs ~20,000 sequential page reads and
~700 s of decoding in that one step, and a step that times out starts again from zero,
so such a job never finishes (issue 18). The plan below cuts the work into steps whose
size does not grow with the job:

1. **parts**: lines ``[start, end)`` of the input, ``lines_per_part`` lines each, one step
   (one named task) per part: read that range's outcomes in pages, write its
   ``results_part_NNN.jsonl`` and its errors object;
2. **merge**: the parts' errors objects joined into ``errors.jsonl`` by a tree of steps of
   at most ``fan_in`` sources each (GCS ``compose`` takes 32);
3. **end**: one step compare-and-sets the job to its final status.

Each step's output is named by the step, so a replayed step rewrites the same object
and redoes only itself. ``step_seconds`` is the cost model the plan is checked against
(``tests/unit/test_finalize_plan.py`` runs a 10M-prompt job through it on a fake clock).
``core.finalize_steps`` executes it, one task per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = ["FinalizeStep", "StepCosts", "plan_finalize", "step_seconds"]

StepKind = Literal["part", "merge", "end"]


@dataclass(frozen=True)
class FinalizeStep:
    """One task of the plan: a part's line range, or the sources a merge joins."""

    kind: StepKind
    name: str
    level: int
    lines: tuple[int, int] | None = None
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepCosts:
    """What a step's operations cost in time (defaults: the figures of issue 18 and
    Firestore/GCS latencies, rounded up)."""

    page_size: int = 500
    page_seconds: float = 0.25
    decode_seconds: float = 70e-6
    bytes_per_line: int = 600
    write_bytes_per_second: float = 40e6
    merge_seconds: float = 2.0
    end_seconds: float = 1.0


def plan_finalize(
    last_line: int, lines_per_part: int, fan_in: int = 32
) -> list[list[FinalizeStep]]:
    """The steps of a job whose lines run ``1..last_line``, level by level (a level's
    steps run in parallel; a level starts when the one before has ended)."""
    if lines_per_part < 1 or fan_in < 2:
        raise ValueError("lines_per_part must be at least 1 and fan_in at least 2")
    count = max(1, math.ceil(last_line / lines_per_part))
    parts = [
        FinalizeStep(
            "part",
            f"part-{index + 1:06d}",
            0,
            lines=(index * lines_per_part + 1, min(last_line, (index + 1) * lines_per_part) + 1),
        )
        for index in range(count)
    ]
    levels: list[list[FinalizeStep]] = [parts]
    sources = [step.name for step in parts]
    while len(sources) > 1:
        level = len(levels)
        merges = [
            FinalizeStep(
                "merge",
                f"merge-{level}-{start // fan_in + 1:06d}",
                level,
                sources=tuple(sources[start : start + fan_in]),
            )
            for start in range(0, len(sources), fan_in)
        ]
        levels.append(merges)
        sources = [step.name for step in merges]
    levels.append([FinalizeStep("end", "end", len(levels), sources=tuple(sources))])
    return levels


def step_seconds(step: FinalizeStep, outcomes: int, costs: StepCosts = StepCosts()) -> float:
    """How long ``step`` takes when its part holds ``outcomes`` outcomes (parts only)."""
    if step.kind == "merge":
        return costs.merge_seconds
    if step.kind == "end":
        return costs.end_seconds
    pages = max(1, math.ceil(outcomes / costs.page_size))
    written = outcomes * costs.bytes_per_line / costs.write_bytes_per_second
    return pages * costs.page_seconds + outcomes * costs.decode_seconds + written
