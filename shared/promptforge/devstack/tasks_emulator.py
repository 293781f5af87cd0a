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
"""

from __future__ import annotations

import logging
import sys
import time
from concurrent import futures
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


def main() -> int:
    """Serve until killed."""
    logging.basicConfig(level=logging.WARNING)
    emulator.APIThread.run = _serve_on_loopback
    emulator.create_server("127.0.0.1", 0).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
