"""Nothing lost, nothing twice on the Google path: the same faults, the functions on emulators.

One stack (Firestore emulator, GCS stand-in, Cloud Tasks emulator, the four functions,
fault proxies) serves every run; each run restarts the simulator with its fault. The
Cloud Tasks emulator delivers one task at a time per queue (~25 prompts a second here),
so jobs are smaller than the embedded runtime's 10,000: ``PROMPTS`` per single fault,
``PROMPTS_ALL`` for all faults together. The checks are the same (``checks.check_run``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.checks import fault_prompts
from tests.faults.google_run import (
    KEY_QUEUES,
    KILL_WINDOW,
    STORM_REFUSALS,
    check_google,
    run_google,
)
from tests.faults.google_stack import GoogleStack, google_stack
from tests.faults.report import record
from tests.faults.scenarios import ALL_TOGETHER, HANGING, SIGTERM_MID_CALL, SINGLE_FAULTS, Fault
from tests.gcp.emulators import FirestoreEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROMPTS = 60
PROMPTS_ALL = 120
PROMPTS_HANGING = 20  # half the calls hang 1 s each, and the emulator sends one at a time


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, firestore_emulator: FirestoreEmulator
) -> Iterator[GoogleStack]:
    with google_stack(tmp_path_factory.mktemp("google-faults"), firestore_emulator) as running:
        yield running


@pytest.mark.parametrize(
    "fault", [*SINGLE_FAULTS, SIGTERM_MID_CALL, ALL_TOGETHER], ids=lambda f: f.name
)
def test_nothing_lost_nothing_twice(stack: GoogleStack, fault: Fault) -> None:
    size = {ALL_TOGETHER: PROMPTS_ALL, HANGING: PROMPTS_HANGING}.get(fault, PROMPTS)
    prompts = fault_prompts(size, fault.name)
    run = run_google(stack, fault, prompts)
    summary = check_google(run, fault, prompts)
    record("google", fault, summary, run.seconds, run.events)
    if fault.transient:
        assert run.stats[fault.provider[0]]["errors"] > 0, "no transient fault was injected"
    if fault.rate_limited:
        assert run.stats[fault.provider[0]]["rate_limited"] >= STORM_REFUSALS, "no 429 storm"
    if fault.killed:  # the documented window: per chunk, its unwritten checkpoint and calls
        assert summary.repeated <= KEY_QUEUES * KILL_WINDOW  # in flight (docs/reliability.md)
    if fault is SIGTERM_MID_CALL:
        assert summary.max_billed == 1, "a prompt answered before the SIGTERM was called again"
