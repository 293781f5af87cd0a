"""Exactly once, checked in constant memory: a job's output files against its input, streamed.

A million-line job cannot be checked by loading every ``prompt_id`` into a set
without the check costing more memory than what it checks. Instead both sides are
reduced, line by line, to a count and a *multiset hash*: the sum, modulo 2**128, of
a 128-bit BLAKE2b digest of each ``prompt_id``. Equal sums and equal counts mean the
outputs hold the input's ids, each as often as the input does (the input's ids are
distinct, so each exactly once): a lost id, a doubled one, or one replaced by
another changes the sum unless 128-bit digests collide. Order does not matter.

The files are checked as they are found on disk, and also for their shape: every
result line a JSON object with ``prompt_id``, ``result``, ``model`` and
``tokens_used``; no shard over ``lines_per_part`` lines; no output file that the job
does not list, none it lists missing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

_MODULUS = 1 << 128
_RESULT_FIELDS = ("prompt_id", "result", "model", "tokens_used")
ERRORS_FILE = "errors.jsonl"


@dataclass(frozen=True)
class ShardCheck:
    """What the outputs hold, and whether they hold every input ``prompt_id`` exactly once."""

    input_lines: int
    result_files: int
    result_lines: int
    error_lines: int
    exactly_once: bool
    problem: str | None = None  # the first thing found wrong


class _Tally:
    """A count and a multiset hash of ``prompt_id``s."""

    def __init__(self) -> None:
        self.count = 0
        self.digest = 0

    def add(self, prompt_id: str) -> None:
        """Count one occurrence of ``prompt_id``."""
        hashed = hashlib.blake2b(prompt_id.encode("utf-8"), digest_size=16).digest()
        self.digest = (self.digest + int.from_bytes(hashed, "big")) % _MODULUS
        self.count += 1


def check_outputs(
    source: Path, outputs: Sequence[Path], *, listed: Sequence[str], lines_per_part: int
) -> ShardCheck:
    """Check ``outputs`` (the job's result shards and ``errors.jsonl``) against ``source``.

    ``listed`` names every output file actually present (the job's folder in the
    output bucket), so that a shard the job does not list is caught too.
    """
    expected = _Tally()
    for row in _rows(source):
        expected.add(str(row["prompt_id"]))
    found = _Tally()
    results = errors = shards = 0
    problems: list[str] = []
    names = [path.name for path in outputs]
    if sorted(names) != sorted(listed):
        problems.append(f"the job lists {sorted(names)} but the folder holds {sorted(listed)}")
    for path in outputs:
        if not path.exists():
            problems.append(f"{path.name} is missing")
            continue
        is_errors = path.name == ERRORS_FILE
        shards += 0 if is_errors else 1
        in_file = 0
        for number, row in enumerate(_rows(path), start=1):
            in_file += 1
            prompt_id = row.get("prompt_id")
            if not isinstance(prompt_id, str):
                problems.append(f"{path.name} line {number} has no prompt_id")
                continue
            found.add(prompt_id)
            if not is_errors and any(field not in row for field in _RESULT_FIELDS):
                problems.append(f"{path.name} line {number} lacks one of {_RESULT_FIELDS}")
        if is_errors:
            errors += in_file
        else:
            results += in_file
            if in_file > lines_per_part:
                problems.append(f"{path.name} holds {in_file} lines, over {lines_per_part}")
    if found.count != expected.count:
        problems.append(f"{found.count} output lines for {expected.count} input prompts")
    elif found.digest != expected.digest:
        problems.append(
            "the outputs' prompt_ids differ from the input's (lost, doubled or swapped)"
        )
    return ShardCheck(
        input_lines=expected.count,
        result_files=shards,
        result_lines=results,
        error_lines=errors,
        exactly_once=not problems,
        problem=problems[0] if problems else None,
    )


def _rows(path: Path) -> Iterator[dict[str, object]]:
    """The JSON objects of a JSONL file, one line at a time (blank lines skipped)."""
    with path.open("rb") as lines:
        for line in lines:
            if line.strip():
                row = json.loads(line)
                yield row if isinstance(row, dict) else {}
