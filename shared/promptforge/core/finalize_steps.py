"""The fanned-out finalize, executed: the steps of ``core.finalize_plan``, each its own task.

A job's finalize is cut into **parts** of ``lines_per_part`` input lines, a **merge**
tree of the parts' error files (``compose``: at most ``COMPOSE_SOURCES`` sources a step)
and an **end** step (``core.finalize_end``). What each step writes:

- a part: ``results_part_NNN.jsonl`` (NNN: the part's number; nothing when its lines have
  no result) then its errors object, both streamed from the job store's outcomes of its
  lines in line order;
- a merge: its sources' errors objects composed into one, in order;
- the step whose successor is the end (the only part, or the root merge) writes
  ``errors.jsonl`` itself; every other errors object is a work object under
  ``_finalize/`` (named by the step), deleted by the end.

So the downloads are what one sequential finalize wrote: the result parts concatenated
are every result in line order, and ``errors.jsonl`` every error in line order.

**One task per step (both runtimes).** A step's task is named by (job, step), so a
replayed step rewrites the same objects (the outcomes are final: the same bytes) and
redoes only itself. A step's errors object is written last and marks it done: a
delivery of a step already done only hands on (a duplicate costs one stat, not a second
read of its outcomes); after writing it, a step looks for its siblings' (the other
sources of its successor) and, when all exist, enqueues its successor. Of two siblings
finishing at once, the one whose look comes second sees both (object reads are strongly
consistent), and a step delivered twice enqueues the same name twice: one successor
either way.

A job of one part (``lines_per_part`` lines or fewer) runs its part and its end inline
in its ``finalize`` task: the objects and operations of a single-step finalize.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from promptforge.blobstore.base import COMPOSE_SOURCES, BlobWriter
from promptforge.core.deps import CONTROL_QUEUE, Deps
from promptforge.core.finalize_plan import FinalizeStep, plan_finalize
from promptforge.core.models import Job, Outcome, OutcomeKind
from promptforge.core.service import result_object_name
from promptforge.core.tasknames import TaskTarget, finalize_step_task_name
from promptforge.jobstore.base import LineRange
from promptforge.tasks.base import Task

__all__ = [
    "ERRORS_FILE",
    "WORK_FOLDER",
    "FinalizeRun",
    "hand_on",
    "is_done",
    "result_part_name",
    "run_merge",
    "run_part",
    "step_task",
]

log = logging.getLogger(__name__)

ERRORS_FILE = "errors.jsonl"
WORK_FOLDER = "_finalize"
"""Where the parts' and inner merges' errors objects live under the job's output folder."""


def result_part_name(index: int) -> str:
    """``results_part_001.jsonl`` for index 1 (the number widens past 999)."""
    return f"results_part_{index:03d}.jsonl"


@dataclass(frozen=True)
class FinalizeRun:
    """One job's finalize plan, as its step tasks carry it (fixed when the finalize started)."""

    job_id: str
    last_line: int
    lines_per_part: int

    @classmethod
    def of(cls, job: Job, lines_per_part: int) -> FinalizeRun:
        """The plan of a job whose ingest is done: its lines ``1..prompt_count``."""
        return cls(job.job_id, max(1, job.prompt_count), lines_per_part)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> FinalizeRun:
        """The run a step task's payload names."""
        return cls(str(payload["job_id"]), int(payload["last_line"]), int(payload["per_part"]))

    @cached_property
    def levels(self) -> list[list[FinalizeStep]]:
        """``plan_finalize``'s levels: the parts, the merges, the end."""
        return plan_finalize(self.last_line, self.lines_per_part, COMPOSE_SOURCES)

    @property
    def parts(self) -> list[FinalizeStep]:
        """The part steps, in line order."""
        return self.levels[0]

    @cached_property
    def _steps(self) -> dict[str, FinalizeStep]:
        return {step.name: step for level in self.levels for step in level}

    @cached_property
    def _parents(self) -> dict[str, FinalizeStep]:
        return {source: step for level in self.levels for step in level for source in step.sources}

    def step(self, name: str) -> FinalizeStep | None:
        """The step called ``name``, or None."""
        return self._steps.get(name)

    def parent(self, step: FinalizeStep) -> FinalizeStep:
        """The step that runs once ``step`` and its siblings are done."""
        return self._parents[step.name]

    def errors_object(self, step: FinalizeStep) -> str:
        """The errors file ``step`` writes (its done mark): ``errors.jsonl`` when the end
        comes next, else a work object."""
        if self.parent(step).kind == "end":
            return ERRORS_FILE
        return f"{WORK_FOLDER}/{step.name}.errors.jsonl"

    def work_objects(self) -> list[str]:
        """Every work object of the run (what the end deletes)."""
        steps = [step for level in self.levels[:-1] for step in level]
        return [name for step in steps if (name := self.errors_object(step)) != ERRORS_FILE]

    def lines(self, part: FinalizeStep) -> LineRange | None:
        """The lines a part reads: None (all) for the only part; the last one runs to the
        end (blank lines keep their numbers, so lines may go past ``prompt_count``)."""
        if len(self.parts) == 1 or part.lines is None:
            return None
        start, end = part.lines
        return (start, None if part is self.parts[-1] else end)

    def payload(self, step: str) -> dict[str, Any]:
        """A step task's payload."""
        return {
            "job_id": self.job_id,
            "last_line": self.last_line,
            "per_part": self.lines_per_part,
            "step": step,
        }


def step_task(run: FinalizeRun, step: str) -> Task:
    """The one task of a step of ``run``."""
    return Task(
        queue=CONTROL_QUEUE,
        target=TaskTarget.FINALIZE_STEP,
        payload=run.payload(step),
        name=finalize_step_task_name(run.job_id, step),
    )


async def run_part(deps: Deps, job: Job, run: FinalizeRun, part: FinalizeStep) -> str | None:
    """Write a part's results object (if it has results), then its errors object; the
    results file's name, or None if the part has no result."""
    lines = run.lines(part)
    index = run.parts.index(part) + 1
    results = deps.store.iter_outcomes(job.job_id, OutcomeKind.RESULT, lines)
    wrote = await _write(deps, job, result_part_name(index), results, if_empty=False)
    errors = deps.store.iter_outcomes(job.job_id, OutcomeKind.ERROR, lines)
    await _write(deps, job, run.errors_object(part), errors, if_empty=True)
    return result_part_name(index) if wrote else None


async def run_merge(deps: Deps, job: Job, run: FinalizeRun, merge: FinalizeStep) -> None:
    """Compose the merge's sources' errors objects into its own, in order."""
    bucket = deps.blobs.output_bucket
    sources = [_object(job, run.errors_object(_step(run, name))) for name in merge.sources]
    await deps.blobs.compose(bucket, sources, _object(job, run.errors_object(merge)))


async def is_done(deps: Deps, job: Job, run: FinalizeRun, step: FinalizeStep) -> bool:
    """Whether a part or merge has written its errors object, its last write (objects appear
    whole: then everything it writes is there)."""
    marker = _object(job, run.errors_object(step))
    return await deps.blobs.stat(deps.blobs.output_bucket, marker) is not None


async def hand_on(deps: Deps, job: Job, run: FinalizeRun, step: FinalizeStep) -> bool:
    """After ``step`` wrote its errors object: enqueue its successor if every sibling has
    written its own and the successor (a merge) is not done; whether it did (the named
    task: a second enqueue creates nothing)."""
    parent = run.parent(step)
    if parent.kind == "merge" and await is_done(deps, job, run, parent):
        return False
    for name in parent.sources:
        if name == step.name:
            continue
        marker = _object(job, run.errors_object(_step(run, name)))
        if await deps.blobs.stat(deps.blobs.output_bucket, marker) is None:
            return False
    await deps.tasks.enqueue([step_task(run, parent.name)])
    return True


def _step(run: FinalizeRun, name: str) -> FinalizeStep:
    step = run.step(name)
    if step is None:
        raise ValueError(f"the finalize plan of job {run.job_id} has no step {name!r}")
    return step


def _object(job: Job, filename: str) -> str:
    return result_object_name(job, filename)


async def _write(
    deps: Deps, job: Job, filename: str, outcomes: AsyncIterable[Outcome], *, if_empty: bool
) -> bool:
    """Stream ``outcomes`` as JSONL into the job's ``filename``; whether it was written
    (without ``if_empty``, no object is made for no outcome)."""
    writer: BlobWriter | None = None
    if if_empty:
        writer = await deps.blobs.open_writer(deps.blobs.output_bucket, _object(job, filename))
    try:
        async for outcome in outcomes:
            if writer is None:
                name = _object(job, filename)
                writer = await deps.blobs.open_writer(deps.blobs.output_bucket, name)
            await writer.write(_line(outcome.record))
    except BaseException:
        if writer is not None:
            await writer.abort()
        raise
    if writer is None:
        return False
    await writer.close()
    return True


def _line(record: dict[str, object]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(", ", ": ")) + "\n").encode()


def work_objects_of(job: Job, run: FinalizeRun) -> Sequence[str]:
    """The object names of ``run``'s work objects for ``job`` (what the end deletes)."""
    return [_object(job, name) for name in run.work_objects()]
