"""A dev stack's process groups die with the process that started them (``devstack.reaper``).

A starter that is SIGKILLed runs no ``finally``, no atexit: its servers and emulators,
each in a session of its own, used to stay up for good. Each test starts a real starter
process that puts a group (a shell and its background child) under the reaper, then
kills the starter from outside as a CI time-out would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import pytest

from promptforge.devstack.reaper import _start_time, _stop_groups, popen_group

WITHIN = 30.0  # far more than the reaper needs (at most GRACE), for a loaded machine

# The starter: a group whose leader (sh) has a child of its own (as gcloud has Java), its
# pids and its watcher's printed, ``forget`` called first when asked; then it waits.
_STARTER = """
import sys, time
from promptforge.devstack import reaper
group = reaper.popen_group(["sh", "-c", "sleep 300 & echo $!; wait"], stdout=-1)
child = int(group.stdout.readline())
if sys.argv[1] == "forget":
    reaper.forget(group.pid)
print(group.pid, child, reaper._WATCHER.pid, flush=True)
time.sleep(300)
"""


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pids: list[int]) -> list[int]:
    deadline = time.monotonic() + WITHIN
    while (alive := [p for p in pids if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def _start_and_kill_starter(mode: str) -> tuple[list[int], int]:
    """The group's pids (leader, child) and the watcher's, the starter SIGKILLed."""
    starter = subprocess.Popen(
        [sys.executable, "-c", _STARTER, mode], stdout=subprocess.PIPE, text=True
    )
    assert starter.stdout is not None
    try:
        pids = [int(p) for p in starter.stdout.readline().split()]
    finally:
        starter.kill()  # SIGKILL: no teardown, no atexit in the starter
        starter.wait(WITHIN)
        starter.stdout.close()
    assert len(pids) == 3, pids
    return pids[:2], pids[2]


def _kill_group(group: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


def test_a_killed_starters_group_is_stopped_leader_and_child() -> None:
    pids, watcher = _start_and_kill_starter("watch")
    try:
        assert _wait_gone(pids) == [], "the group outlived the SIGKILLed process that started it"
        assert _wait_gone([watcher]) == [], "the watcher stayed after its work"
    finally:
        _kill_group(pids[0])


def test_a_forgotten_group_is_left_alone() -> None:
    """``forget`` is what a starter says once it stopped a group itself: the reaper must then
    not touch that group id (the control for the test above: the kill alone stops nothing)."""
    pids, watcher = _start_and_kill_starter("forget")
    try:
        assert _wait_gone([watcher]) == [], "the watcher did not end with its starter"
        assert all(_running(p) for p in pids), "a forgotten group was stopped"
    finally:
        _kill_group(pids[0])
        _wait_gone(pids)


@pytest.mark.parametrize("matches", [True, False], ids=["ours", "pid-reused"])
def test_only_a_group_whose_leader_is_the_one_registered_is_stopped(matches: bool) -> None:
    """A registered group id whose leader pid now names another process (its start time
    differs) belongs to someone else: the reaper leaves it alone."""
    group = popen_group(["sleep", "300"])
    try:
        began = _start_time(group.pid) if matches else "1"
        _stop_groups({group.pid: began})
        with suppress(subprocess.TimeoutExpired):
            group.wait(WITHIN if matches else 0.5)
        assert (group.poll() is not None) is matches
    finally:
        _kill_group(group.pid)
        group.wait(WITHIN)
