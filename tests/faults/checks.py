"""What every fault run must show, checked from the outside: the files, the status, the simulator.

- every prompt_id exactly once across the results parts and errors.jsonl, and the
  status counters equal to the lines of those files (``assert_exactly_once``);
- the job's status final and right (COMPLETED: every run has valid prompts);
- the provider called no more often than the prompt's retries allow, counted at the
  simulator per prompt text: billed (successful) calls and attempts (every call that
  got past authentication, 429s included). ``Allowance`` states the bound per fault.

A call that timed out may have been served (the provider finishes it and bills it; the
client had stopped waiting): docs/reliability.md documents that each timeout a prompt
saw may have cost one billed call. Every result and error line says how many of the
prompt's calls timed out (``timeouts``), so the bound is checked per prompt: billed
calls <= 1 + its timeouts (+1 if a kill cut its call off) for a result, <= its timeouts
(+1) for an error line.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.jobs import Finished, assert_exactly_once
from tests.faults.scenarios import Fault

RETRIES_EXHAUSTED = "retries_exhausted"
TIMEOUT = "timeout"
_REPORTED = ("requests", "successes", "rate_limited", "server_errors", "overloaded", "timeouts")


def fault_prompts(count: int, tag: str) -> list[dict[str, str]]:
    """Distinct prompts whose texts carry ``tag``, so runs sharing a simulator never collide."""
    return [
        {"prompt_id": f"{tag}-{i:05d}", "prompt": f"[{tag}] Summarise item {i} in one line."}
        for i in range(count)
    ]


def sim_key(prompt: str) -> str:
    """The simulator's key for a prompt text (``promptforge.sim.providers.text.prompt_key``)."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Allowance:
    """How often the provider may have been called per prompt under one fault.

    - ``max_retries``: transient failures (5xx, 529, timeouts) a prompt may retry;
    - ``transient``: transient faults were injected, so prompts may end in errors.jsonl
      as ``retries_exhausted`` (else errors.jsonl must be empty);
    - ``rate_limited``: 429s were possible; they are flow control and never count
      against ``max_retries``. When they are the only fault, every attempt beyond the
      first must have been a 429; mixed with transient faults (the simulator counts
      429s per provider, not per prompt) the per-prompt excess over the transient
      allowance must be covered, in total, by the 429s the simulator answered;
    - ``repeatable``: prompt keys whose call may have been in flight at a real kill:
      each may be called (and billed) once more, and at most ``max_repeats`` of them.
    """

    max_retries: int
    transient: bool = False
    rate_limited: bool = False
    repeatable: frozenset[str] = frozenset()
    max_repeats: int = 0


@dataclass
class Summary:
    """What one run showed, for the reliability table."""

    prompts: int
    completed: int
    failed: int
    max_billed: int
    max_attempts: int
    repeated: int  # prompts billed twice (calls in flight at a kill)
    timed_out_billed: int = 0  # prompts billed again after a call of theirs timed out
    sim: dict[str, int] = field(default_factory=dict)


def check_run(
    finished: Finished,
    prompts: list[dict[str, str]],
    stats: dict[str, Any],
    provider: str,
    allow: Allowance,
) -> Summary:
    """Assert every invariant of a finished fault run; return what it showed."""
    status = finished.status
    assert status["status"] == "COMPLETED", status
    ids = [p["prompt_id"] for p in prompts]
    assert_exactly_once(finished, ids)
    assert status["completed_count"] + status["failed_count"] == len(prompts)

    keys = {p["prompt_id"]: sim_key(p["prompt"]) for p in prompts}
    billed: Counter[str] = Counter(stats["calls_per_prompt"])
    attempts: Counter[str] = Counter(stats["attempts_per_prompt"])
    counters: dict[str, int] = stats[provider]
    assert set(attempts) <= set(keys.values()), "the simulator saw prompts of no job"
    assert sum(billed.values()) == counters["successes"]

    timed_out = _timeouts_per_prompt(finished, keys)
    repeated = {k for k in keys.values() if billed[k] > 1 + timed_out[k]}
    assert repeated <= allow.repeatable, (
        f"{len(repeated - allow.repeatable)} prompts billed twice though no kill hit their "
        "call and none of their calls timed out"
    )
    assert len(repeated) <= allow.max_repeats

    for row in finished.results:
        key = keys[row["prompt_id"]]
        assert billed[key] >= 1, f"{row['prompt_id']}: a result the provider never produced"
        assert row["result"] and row["tokens_used"] > 0
        kill = 1 if key in allow.repeatable else 0
        assert billed[key] <= 1 + timed_out[key] + kill, (row, billed[key])
    for row in finished.errors:
        key = keys[row["prompt_id"]]
        assert allow.transient, f"no transient fault, yet an error line: {row}"
        assert row["error"]["code"] in (RETRIES_EXHAUSTED, TIMEOUT), row
        assert row["attempts"] == allow.max_retries + 1, row
        assert row["timeouts"] <= row["attempts"], row
        if row["error"]["code"] == TIMEOUT:
            assert row["timeouts"] >= 1 and row["error"]["waited_seconds"] > 0, row
        kill = 1 if key in allow.repeatable else 0
        assert billed[key] <= timed_out[key] + kill, (row, billed[key])

    # A prompt whose every call timed out may never have been read by the provider: on a
    # loaded machine the simulator (holding hundreds of hung calls) can take longer than
    # the 2 s timeout to read a request. Every other prompt must have reached it.
    unread = {keys[r["prompt_id"]] for r in finished.errors if r["timeouts"] == r["attempts"]}
    _check_attempts(keys, billed, attempts, counters, allow, unread)
    return Summary(
        prompts=len(prompts),
        completed=status["completed_count"],
        failed=status["failed_count"],
        max_billed=max(billed.values(), default=0),
        max_attempts=max(attempts.values(), default=0),
        repeated=len(repeated),
        timed_out_billed=sum(
            1 for k in keys.values() if billed[k] > 1 and k not in repeated and timed_out[k]
        ),
        sim={name: counters[name] for name in _REPORTED},
    )


def _timeouts_per_prompt(finished: Finished, keys: dict[str, str]) -> Counter[str]:
    """How many calls of each prompt timed out, as its result or error line says."""
    counts: Counter[str] = Counter()
    for row in [*finished.results, *finished.errors]:
        counts[keys[row["prompt_id"]]] = int(row.get("timeouts", 0))
    return counts


def _check_attempts(
    keys: dict[str, str],
    billed: Counter[str],
    attempts: Counter[str],
    counters: dict[str, int],
    allow: Allowance,
    unread: set[str],
) -> None:
    """Attempts per prompt against ``1 + max_retries`` (+ a kill repeat) + its 429s."""
    if not allow.rate_limited:
        assert counters["rate_limited"] == 0, "429s the run did not plan for"
    if not allow.transient:
        assert counters["errors"] == 0, "transient faults the run did not plan for"
    excess = 0
    for key in keys.values():
        assert attempts[key] >= 1 or key in unread, "a prompt never reached the provider"
        allowed = 1 + allow.max_retries + (1 if key in allow.repeatable else 0)
        if not allow.rate_limited:
            assert attempts[key] <= allowed, f"prompt {key}: {attempts[key]} calls"
        excess += max(attempts[key] - allowed, 0)
    # With 429s and no transient fault, every call was billed or a 429 (errors == 0) and
    # billed calls are bounded above: so attempts = billed + the prompt's own 429s, exactly.
    # Mixed with transient faults, the excess over the transient allowance must be 429s.
    assert excess <= counters["rate_limited"], (
        f"{excess} calls beyond the retry allowance, only {counters['rate_limited']} 429s"
    )


@dataclass
class FaultRun:
    """A finished fault run: the job, the simulator's view, what happened, how long it took."""

    finished: Finished
    stats: dict[str, Any]
    seconds: float
    repeatable: frozenset[str] = frozenset()
    events: list[str] = field(default_factory=list)


def check_fault_run(
    run: FaultRun, fault: Fault, prompts: list[dict[str, str]], *, max_repeats: int
) -> Summary:
    """``check_run`` with the fault's allowance; a kill may repeat up to ``max_repeats`` calls."""
    allow = Allowance(
        max_retries=fault.max_retries,
        transient=fault.transient,
        rate_limited=fault.rate_limited,
        repeatable=run.repeatable,
        max_repeats=max_repeats if fault.killed else 0,
    )
    return check_run(run.finished, prompts, run.stats, fault.provider[0], allow)
