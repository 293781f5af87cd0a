"""Nothing lost, nothing twice: 2,000- to 10,000-prompt jobs on the embedded runtime, per fault.

Each fault on its own, then all of them in one job. After each: every prompt_id exactly
once across the results and errors.jsonl, counters equal to the files, the provider
called no more often than the prompt's retries allow (counted at the simulator), and
the job COMPLETED. The bound per fault is in ``checks.Allowance``; see docs/reliability.md.

The runs that spend most of their time waiting (retry backoffs, hung calls, a rate
climbing back after a storm) run side by side, each with its own server and simulator,
so the suite takes about the time of the longest of them rather than their sum.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.faults.checks import FaultRun, fault_prompts
from tests.faults.embedded_run import STORM_REFUSALS, check_embedded, run_embedded
from tests.faults.report import record
from tests.faults.scenarios import (
    ALL_TOGETHER,
    DUPLICATE_DELIVERY,
    EVENT_REPLAY,
    HANGING,
    RATE_LIMIT_STORM,
    RESTARTED,
    SIGTERM_MID_CALL,
    TRANSIENT,
    WORKER_KILLED,
    Fault,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROMPTS = 10_000
SIGTERM_PROMPTS = 300  # all in flight at once: 12 s calls
# Smaller jobs where the number of prompts is not what the run proves (each costs CPU on
# a machine that has little to spare, and the suite's time). The others keep 10,000:
# every prompt of duplicate-delivery is one more trial of three deliveries racing, and a
# restart during ingest (restarted, all-together) needs an ingest longer than a status poll.
SIZES = {
    # the replays are per job (the upload URL, the ingest and finalize deliveries)
    "event-replay": 2_000,
    # one kill per job, cutting off at most MAX_CONCURRENT calls whatever the size
    "worker-killed": 2_000,
    # the storm lasts until 300 refusals; 2,000 prompts at the 100/s it admits outlast 8 s
    "429-storm": 2_000,
    # half the calls hang: ~1,000 prompts time out at least once, ~250 exhaust both retries
    "provider-hangs": 2_000,
    # 15% of calls fail (750 at the first attempt), a few prompts exhaust their retries
    "transient-5pct": 5_000,
}
SIDE_BY_SIDE = (TRANSIENT, RATE_LIMIT_STORM, HANGING)


@pytest.fixture(scope="module")
def waiting_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Future[FaultRun]]]:
    """The side-by-side runs, started together the first time a test asks for one."""
    with ThreadPoolExecutor(len(SIDE_BY_SIDE)) as pool:
        yield {
            fault.name: pool.submit(
                run_embedded,
                tmp_path_factory.mktemp(fault.name),
                fault,
                fault_prompts(SIZES.get(fault.name, PROMPTS), fault.name),
            )
            for fault in SIDE_BY_SIDE
        }


@pytest.mark.parametrize(
    "fault",
    [DUPLICATE_DELIVERY, EVENT_REPLAY, WORKER_KILLED, RESTARTED, ALL_TOGETHER],
    ids=lambda f: f.name,
)
def test_nothing_lost_nothing_twice(tmp_path: Path, fault: Fault) -> None:
    prompts = fault_prompts(SIZES.get(fault.name, PROMPTS), fault.name)
    _check(fault, prompts, run_embedded(tmp_path, fault, prompts), side_by_side=False)


@pytest.mark.parametrize("fault", SIDE_BY_SIDE, ids=lambda f: f.name)
def test_nothing_lost_nothing_twice_side_by_side(
    waiting_runs: dict[str, Future[FaultRun]], fault: Fault
) -> None:
    prompts = fault_prompts(SIZES.get(fault.name, PROMPTS), fault.name)
    _check(fault, prompts, waiting_runs[fault.name].result(), side_by_side=True)


def test_a_sigterm_with_calls_in_flight_bills_no_prompt_twice(tmp_path: Path) -> None:
    prompts = fault_prompts(SIGTERM_PROMPTS, SIGTERM_MID_CALL.name)
    run = run_embedded(tmp_path, SIGTERM_MID_CALL, prompts)
    summary = check_embedded(run, SIGTERM_MID_CALL, prompts)
    record("embedded", SIGTERM_MID_CALL, summary, run.seconds, run.events)
    assert summary.max_billed == 1, "a prompt answered before the SIGTERM was called again"


def _check(
    fault: Fault, prompts: list[dict[str, str]], run: FaultRun, *, side_by_side: bool
) -> None:
    summary = check_embedded(run, fault, prompts)
    if side_by_side:
        others = ", ".join(f.name for f in SIDE_BY_SIDE if f is not fault)
        run.events.append(f"ran side by side with {others}")
    record("embedded", fault, summary, run.seconds, run.events)
    counters = run.stats[fault.provider[0]]
    if fault.transient:
        assert counters["errors"] > 0, "no transient fault was injected"
    if fault.rate_limited:
        # Enough 429s that, with max_retries=0, any one counted as a failure would show
        # (the storm lasts until the provider has refused that many: ``end_storm``).
        assert counters["rate_limited"] >= STORM_REFUSALS[fault.name], "no storm of 429s"
    if fault.killed:
        assert summary.repeated > 0, "the kill cut no call off: it was not mid-call"
