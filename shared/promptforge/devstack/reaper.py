"""Process groups that die with the process that started them, however it ends.

A dev stack (and the test suite) starts its servers and emulators in process groups of
their own, so that a launcher's children (the Firestore emulator's Java server) can be
stopped with it. A group in its own session outlives its starter: a starter killed from
outside (SIGKILL, a CI time-out, a SIGTERM with no handler) used to leave its emulators
and servers running for good.

``popen_group`` starts a command in a new process group and hands the group to a
watcher: one small process per starter (``python -m promptforge.devstack.reaper``),
started with the first group. The watcher reads the starter's registrations from a pipe
whose write end only the starter holds. When the starter exits, by any means, the kernel
closes that end; the watcher reads end-of-file and stops every group still registered:
SIGTERM, then SIGKILL after ``GRACE`` seconds. ``forget`` unregisters a group its
starter has stopped. A group whose leader's pid was reused by an unrelated process
(its start time differs) is left alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import suppress
from pathlib import Path
from types import FrameType
from typing import Any

GRACE = 5.0
"""Seconds a group has to exit after SIGTERM before the watcher sends SIGKILL."""


def popen_group(argv: list[str], **popen: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(argv, **popen)`` in a new process group that dies with this process."""
    process: subprocess.Popen[bytes] = subprocess.Popen(  # noqa: S603 (the caller's argv)
        argv, start_new_session=True, **popen
    )
    watch(process.pid)
    return process


def watch(group: int) -> None:
    """Stop process group ``group`` when this process exits, unless ``forget`` is called."""
    _WATCHER.send(f"+{group} {_start_time(group)}")


def forget(group: int) -> None:
    """No longer stop ``group`` at exit (its starter stopped it; its id may be reused)."""
    _WATCHER.send(f"-{group}")


class _Watcher:
    """The starter's side: the pipe to its watcher process, started on first use.

    The watcher is spawned bare (``os.posix_spawn``), not as a ``subprocess.Popen``: it is
    meant to outlive its starter, and a ``Popen`` still running at interpreter exit makes
    Python warn about it (and about its open stdin) in every process that used the reaper.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.pid = 0  # the watcher's pid (0: not started)
        self._pipe = -1  # the write end of the watcher's stdin
        self._owner = 0  # the pid that started the watcher (a forked child starts its own)

    def send(self, line: str) -> None:
        with self._lock:
            if self.pid == 0 or self._owner != os.getpid():
                self.pid, self._pipe = self._start()
                self._owner = os.getpid()
            with suppress(BrokenPipeError):  # the watcher is gone: nothing left to tell
                os.write(self._pipe, line.encode() + b"\n")

    @staticmethod
    def _start() -> tuple[int, int]:
        read, write = os.pipe()  # both ends close-on-exec: only fd 0 reaches the watcher
        try:
            pid = os.posix_spawn(
                sys.executable,
                [sys.executable, "-m", __name__],
                os.environ,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, read, 0),
                    # none of the starter's output pipes: a reader of them would wait for it too
                    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
                ],
                setsid=True,  # a Ctrl-C to the terminal's group must not end it first
            )
        finally:
            os.close(read)
        return pid, write


_WATCHER = _Watcher()


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ("?" if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "?"
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; fields after the name start at 3


def _stop_groups(groups: dict[int, str]) -> None:
    """SIGTERM every group still ours, then SIGKILL what is left after ``GRACE``."""
    ours = [g for g, began in groups.items() if _start_time(g) in ("?", began)]
    for sig, grace in ((signal.SIGTERM, GRACE), (signal.SIGKILL, 0.0)):
        for group in ours:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(group, sig)
        deadline = time.monotonic() + grace
        while ours and time.monotonic() < deadline:
            ours = [g for g in ours if _group_alive(g)]
            time.sleep(0.05)


def _group_alive(group: int) -> bool:
    """Whether a process of the group still runs (zombies, waiting to be reaped, do not)."""
    proc = Path("/proc")
    if not proc.is_dir():  # no procfs: ask the kernel (a zombie then counts as alive)
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        with suppress(OSError, IndexError):
            state, _, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
            if int(pgrp) == group and state != "Z":
                return True
    return False


def main() -> None:
    """The watcher: read registrations from stdin; at its end, stop every group left."""
    groups: dict[int, str] = {}

    def _stop_now(signum: int, frame: FrameType | None) -> None:
        _stop_groups(groups)
        sys.exit(0)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_now)
    for raw in sys.stdin.buffer:
        line = raw.decode().strip()
        if line.startswith("+"):
            group, began = line[1:].split()
            groups[int(group)] = began
        elif line.startswith("-"):
            groups.pop(int(line[1:]), None)
    _stop_groups(groups)


if __name__ == "__main__":
    main()
