"""Local processes of a dev stack: start on 127.0.0.1, wait until they serve, stop the group.

Every process runs in its own process group (a launcher's children, such as the Java
server of the Firestore emulator, go with it) and is stopped with its group: SIGTERM,
then SIGKILL. A group also dies with the process that started it, however that one ends
(``reaper``). A launcher that picks its own port prints ``PORT <n>`` once it listens.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from promptforge.devstack.reaper import forget, popen_group
from promptforge.errors import PromptForgeError

REPO = Path(__file__).resolve().parents[3]
"""The clone this library runs from (``functions/`` and the emulators' virtualenvs are there)."""
START_TIMEOUT = 60.0


class StandInError(PromptForgeError):
    """A stand-in did not start or stopped serving; the message ends with its log."""


class StandIn:
    """A stand-in process: its port, its log, and how to stop it."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.name, self.process, self.port, self.log = name, process, port, log

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}"

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process.poll() is None

    def tail(self, lines: int = 60) -> str:
        """The end of its log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL for whatever is left.

        The leader exiting is not enough: a launcher's child (the Firestore emulator's
        Java server) may still be shutting down in the group, so the group is waited for.
        """
        group = self.process.pid
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
            if _group_gone(group, time.monotonic() + grace):
                break
        forget(group)
        if self.process.stdout is not None:
            self.process.stdout.close()


def _group_gone(group: int, deadline: float) -> bool:
    """Wait until no process is left in the group (or the deadline passes)."""
    while True:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def launch_reporting_port(
    name: str,
    argv: list[str],
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path = REPO,
) -> StandIn:
    """Start a launcher that prints ``PORT <n>`` on stdout once it listens."""
    with log.open("wb") as out:
        process = popen_group(
            argv,
            cwd=cwd,
            env=env or dict(os.environ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=out,
        )
    if process.stdout is None:  # pragma: no cover - stdout=PIPE always gives one
        raise StandInError(f"{name}: no stdout")
    deadline = time.monotonic() + START_TIMEOUT
    line = b""
    while time.monotonic() < deadline and process.poll() is None:
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready:
            line = process.stdout.readline()
            if line.startswith(b"PORT "):
                return StandIn(name, process, int(line.split()[1]), log)
    stand_in = StandIn(name, process, 0, log)
    stand_in.stop()
    raise StandInError(f"{name} did not start ({line!r}); its log:\n{stand_in.tail()}")


def functions_framework() -> str:
    """The functions-framework command of this interpreter's environment."""
    return str(Path(sys.executable).parent / "functions-framework")


def spawn_function(
    name: str,
    port: int,
    env: dict[str, str],
    log: Path,
    *,
    source: Path | None = None,
    command: str | None = None,
) -> StandIn:
    """Serve ``functions/<name>/main.py`` (or ``source``) as deployed, with functions-framework."""
    main = source or REPO / "functions" / name / "main.py"
    argv = [command or functions_framework(), "--target", name, "--source", str(main)]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    if name == "ingest":
        argv += ["--signature-type", "cloudevent"]
    with log.open("wb") as out:
        process = popen_group(
            argv,
            cwd=main.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return StandIn(f"{name} function", process, port, log)


def wait_until_serving(servers: list[StandIn], timeout: float = START_TIMEOUT) -> None:
    """Wait until every server answers ``GET /healthz`` (any status) or raise with its log."""
    deadline = time.monotonic() + timeout
    for server in servers:
        while True:
            if not server.alive():
                raise StandInError(f"{server.name} exited; its log:\n{server.tail()}")
            try:
                httpx.get(f"{server.url}/healthz", timeout=2.0)
                break
            except httpx.TransportError as exc:
                if time.monotonic() > deadline:
                    raise StandInError(
                        f"{server.name} did not answer; its log:\n{server.tail()}"
                    ) from exc
                time.sleep(0.1)


def free_port() -> int:
    """A port nothing listens on right now (for a server that must be told its port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
