"""The Cloud Tasks stand-in: PyPI's gcloud-tasks-emulator 0.6.2, bound to 127.0.0.1 only.

Run with the emulator's own virtualenv (it needs protobuf<5)::

    cd shared && ../.venv-tasks-emulator/bin/python -m promptforge.devstack.tasks_emulator

The emulator's ``start`` command binds ``[::]`` (every interface) on a fixed port; this
launcher runs the same server with its gRPC API on ``127.0.0.1`` and a free port, and
prints ``PORT <n>`` once it serves. What the emulator does (read from its source,
``gcloud_tasks_emulator/server.py``): it POSTs HTTP tasks to their URL with the
``X-CloudTasks-*`` headers, one task at a time per queue, and waits for
``schedule_time``; any 4xx/5xx re-queues the task at the back (no backoff, no
``Retry-After``). It ignores rate limits, ``UpdateQueue``, retry configs, OIDC tokens
(no ``Authorization`` header is sent) and task-name dedupe (a name used twice is
delivered twice); ``GetQueue`` on a missing queue fails with UNKNOWN, and
``CreateQueue`` on an existing one returns it instead of ALREADY_EXISTS.

With ``--enforce-rates`` the launcher adds what rate control needs of the real service:
``UpdateQueue`` replaces the queue's ``rate_limits``, and each queue dispatches through
a token bucket of its ``max_dispatches_per_second`` (burst: ``max_burst_size``, else a
second of the rate), so a queue's configured rate is the rate its handlers see (still
one task at a time per queue: a queue dispatches at most one over its handler's time).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from concurrent import futures
from datetime import UTC, datetime
from typing import Any

import grpc  # type: ignore[import-untyped]
from gcloud_tasks_emulator import server as emulator  # type: ignore[import-not-found]


def _serve_on_loopback(self: Any) -> None:
    """``APIThread.run`` with the gRPC server on 127.0.0.1 and a port the OS picks."""
    self._httpd = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    emulator.add_CloudTasksServicer_to_server(emulator.Greeter(self._state), self._httpd)
    port = self._httpd.add_insecure_port("127.0.0.1:0")
    self._httpd.start()
    print(f"PORT {port}", flush=True)
    while self._is_running.is_set():
        time.sleep(emulator._LOOP_SLEEP_TIME)


_DEFAULT_RATE = 500.0  # Cloud Tasks' default (and cap) for max_dispatches_per_second
_RECHECK = 0.1  # seconds: a waiting dispatch re-reads the queue's rate this often


class _Buckets:
    """One token bucket per queue, at the rate its ``rate_limits`` say now."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[float, float]] = {}  # queue -> (tokens, at)

    def take(self, name: str, queue: Any) -> None:
        """Wait until the queue may dispatch one task, then spend a token."""
        while True:
            rate = float(queue.rate_limits.max_dispatches_per_second) or _DEFAULT_RATE
            burst = max(1.0, float(queue.rate_limits.max_burst_size) or rate)
            with self._lock:
                now = time.monotonic()
                tokens, at = self._tokens.get(name, (1.0, now))
                tokens = min(burst, tokens + (now - at) * rate)
                if tokens >= 1.0:
                    self._tokens[name] = (tokens - 1.0, now)
                    return
                self._tokens[name] = (tokens, now)
            time.sleep(min((1.0 - tokens) / rate, _RECHECK))


def _enforce_rates() -> None:
    """Make ``UpdateQueue`` apply rate limits and dispatches follow them (see above)."""
    buckets = _Buckets()
    state_class = emulator.QueueState
    submit, update = state_class.submit_task, state_class.update_queue

    def update_queue(self: Any, queue: Any) -> Any:
        stored = update(self, queue)
        if "rate_limits" in queue:
            stored.rate_limits = queue.rate_limits
        return stored

    def submit_task(self: Any, task_name: str, force_run: bool = False) -> Any:
        queue_name = task_name.rsplit("/", 2)[0]
        task = next((t for t in self._queue_tasks.get(queue_name, ()) if t.name == task_name), None)
        queue = self._queues.get(queue_name)
        if task is not None and queue is not None and (force_run or _due(task)):
            buckets.take(queue_name, queue)
        return submit(self, task_name, force_run)

    state_class.update_queue = update_queue
    state_class.submit_task = submit_task


def _due(task: Any) -> bool:
    """Whether the emulator would dispatch ``task`` now (its own test, ``submit_task``)."""
    return not (task.schedule_time and task.schedule_time >= datetime.now(UTC))


def main() -> int:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enforce-rates", action="store_true", help="dispatch at queue rates")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    emulator.APIThread.run = _serve_on_loopback
    if args.enforce_rates:
        _enforce_rates()
    emulator.create_server("127.0.0.1", 0).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
