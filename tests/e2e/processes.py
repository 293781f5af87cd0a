"""Start ``promptforge serve`` and ``promptforge simulate`` as real processes on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from promptforge.devstack.reaper import popen_group


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def promptforge(*args: str, env: dict[str, str] | None = None) -> list[str]:
    """The command line of the promptforge CLI in this interpreter."""
    return [sys.executable, "-m", "promptforge.cli.main", *args]


class Process:
    """A started server process with its URL and log file."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, url: str) -> None:
        self.argv, self.env, self.log_path, self.url = argv, env, log, url
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self, ready_path: str) -> None:
        """Start and wait until ``ready_path`` answers."""
        with self.log_path.open("ab") as log:
            # its own group, stopped with the test process if that one is killed first
            self.popen = popen_group(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.argv} exited: {self.log_path.read_text()[-2000:]}")
            try:
                httpx.get(self.url + ready_path, timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.argv} did not start: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group: no clean shutdown, like a crash."""
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, within: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit within ``within`` seconds."""
        self.terminate(within)

    def terminate(self, within: float) -> bool:
        """SIGTERM and wait; True if it exited by itself, False if it had to be SIGKILLed."""
        if self.popen is None or self.popen.poll() is not None:
            return True
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(within)
        except subprocess.TimeoutExpired:
            self.kill()
            return False
        return True


@contextmanager
def simulator(tmp: Path, *extra: str) -> Iterator[Process]:
    """A provider simulator process."""
    port = free_port()
    proc = Process(
        promptforge("simulate", "--port", str(port), *extra),
        dict(os.environ),
        tmp / "simulator.log",
        f"http://127.0.0.1:{port}",
    )
    proc.start("/_sim/stats")
    try:
        yield proc
    finally:
        proc.stop()


def server_env(data_dir: Path, port: int, simulator_url: str, **extra: str) -> dict[str, str]:
    """Environment for a ``promptforge serve`` process talking to the simulator."""
    env = dict(os.environ)
    env.update(
        PROMPTFORGE_DATA_DIR=str(data_dir),
        PROMPTFORGE_PORT=str(port),
        PROMPTFORGE_OPENAI_API_KEY="sk-test-provider-key-0123456789",
        PROMPTFORGE_OPENAI_BASE_URL=simulator_url,
        PROMPTFORGE_CONTROL_PERIOD="0.5",
        **extra,
    )
    return env


def anthropic_and_gemini_at(simulator_url: str) -> dict[str, str]:
    """Server settings that send Anthropic and Gemini calls to the simulator too."""
    return {
        f"PROMPTFORGE_{name}_{part}": value
        for name in ("ANTHROPIC", "GEMINI")
        for part, value in (
            ("API_KEY", "sk-test-provider-key-0123456789"),
            ("BASE_URL", simulator_url),
        )
    }


def server(data_dir: Path, simulator_url: str, **extra: str) -> Process:
    """A (not yet started) ``promptforge serve`` process."""
    port = free_port()
    return Process(
        promptforge("serve"),
        server_env(data_dir, port, simulator_url, **extra),
        data_dir.parent / f"server-{port}.log",
        f"http://127.0.0.1:{port}",
    )


def create_key(data_dir: Path, tenant: str) -> str:
    """An API key made by the CLI, as a user would."""
    env = dict(os.environ, PROMPTFORGE_DATA_DIR=str(data_dir))
    out = subprocess.run(
        promptforge("keys", "create", "--tenant", tenant),
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return out.stdout.decode().strip()
