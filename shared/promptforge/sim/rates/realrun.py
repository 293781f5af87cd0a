"""A real run of a wall-clock case: the embedded runtime against the provider simulator.

``real_run`` serves the case's limits from the provider simulator over HTTP on
127.0.0.1 and runs the example prompts through ``EmbeddedRuntime`` (the code
``promptforge serve`` runs: SQLite store, in-process dispatcher, controller loop,
httpx), timed at the simulator: first provider call to last answer. Each call's arrival
and outcome, and each rate the controller applied, go to a ``trace.CallTrace``.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from pydantic import SecretStr

from promptforge.sim.providers.config import SimulatorConfig
from promptforge.sim.rates.cases import Case
from promptforge.sim.rates.signals import Style
from promptforge.sim.rates.trace import ADMITTED, FAILED, REFUSED, CallTrace

__all__ = ["real_run"]


async def real_run(
    case: Case, lines: list[str], config: SimulatorConfig, trace: CallTrace
) -> tuple[float, int, int]:
    """Makespan (first provider call to last answer), 429s and calls of a real embedded run.

    Timed at the provider simulator, to the millisecond: the job's own timestamps are
    whole seconds (2 % of a one-minute job). The simulation's makespan runs from its
    first dispatch to its last answer too, and its limit changes count from there: the
    simulator's clock (full buckets, the schedule) restarts at the first call. Each call
    and each rate the controller applied go to ``trace``.
    """
    from promptforge.sim.providers.server import create_app

    # Mistral's API shares OpenAI's paths: the simulator serves it there only alone.
    sim_app = create_app(config, only=case.style.value if case.style is Style.MISTRAL else None)
    timed = _Timed(sim_app, sim_app.state.simulator.limiter.reset, trace)
    steps = logging.getLogger("promptforge.core.control")
    rate_log = _RateLog(timed)
    steps.addHandler(rate_log)
    steps.setLevel(logging.DEBUG)
    steps.propagate = False
    try:
        return await _served_run(case, lines, config, sim_app, timed)
    finally:
        steps.removeHandler(rate_log)
        steps.setLevel(logging.NOTSET)
        steps.propagate = True


async def _served_run(
    case: Case, lines: list[str], config: SimulatorConfig, sim_app: Any, timed: _Timed
) -> tuple[float, int, int]:
    """``_real_run``'s job: the embedded runtime against ``timed`` (the simulator) on
    127.0.0.1, from the upload of ``lines`` to the job's completion."""
    from rich.console import Console

    from promptforge.cli.submit import submit_file
    from promptforge.client import PromptForgeClient as ApiClient
    from promptforge.clock import SystemClock
    from promptforge.core.auth import create_api_key
    from promptforge.embedded.runtime import EmbeddedRuntime
    from promptforge.embedded.server import BackgroundServer
    from promptforge.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        prompts_file = data / "prompts.jsonl"
        await anyio.Path(prompts_file).write_text("\n".join(lines) + "\n", encoding="utf-8")
        async with BackgroundServer(timed) as simulator:
            settings = Settings(data_dir=data / "state", port=0).model_copy(
                update={
                    f"{case.style.value}_api_key": SecretStr("sim-wallclock"),
                    f"{case.style.value}_base_url": simulator.url,
                }
            )
            server = BackgroundServer(None, settings.host, 0)
            settings = settings.model_copy(update={"port": server.port})
            runtime = EmbeddedRuntime(settings)
            server.set_app(runtime.app)
            async with runtime, server:
                key, _ = await create_api_key(runtime.store, SystemClock(), "wallclock")
                async with ApiClient(server.url, key) as client:
                    summary = await submit_file(
                        client,
                        prompts_file,
                        provider=case.style.value,
                        model=case.model,
                        out_dir=data / "out",
                        show_progress=False,
                        console=Console(quiet=True),
                    )
                    status = await client.status(summary.job_id)
        stats = sim_app.state.simulator.stats.providers[case.style.value]
    if status["status"] != "COMPLETED" or timed.first is None or timed.last is None:
        raise RuntimeError(f"the wall-clock job did not complete: {status}")
    if timed.repeated:
        raise RuntimeError(
            f"{timed.repeated} provider call(s) repeated a prompt already answered: "
            "a prompt is called again only after a 429 or a 5xx"
        )
    return timed.last - timed.first, stats.rate_limited, stats.requests


class _Timed:
    """An ASGI app timed: when its first provider call came, when its last answer left;
    ``on_first`` runs as the first call arrives. Each call's arrival (seconds from the
    first) and outcome go to ``trace``.

    It also checks issue 21's "no prompt called twice except after a 429 or 5xx": a call
    whose request body was answered with a success before is counted in ``repeated``
    (the example prompts are all different, so a body is a prompt).
    """

    def __init__(self, app: Any, on_first: Callable[[], None], trace: CallTrace) -> None:
        self.app = app
        self._on_first = on_first
        self.trace = trace
        self.first: float | None = None
        self.last: float | None = None
        self.repeated = 0
        self._answered: set[str] = set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Serve one request, noting the times of provider calls (not ``/_sim`` routes)."""
        calls = scope["type"] == "http" and not str(scope["path"]).startswith("/_sim")
        if not calls:
            await self.app(scope, receive, send)
            return
        if self.first is None:
            self.first = time.monotonic()
            self._on_first()
        arrived = time.monotonic() - self.first
        status = 0
        body = hashlib.sha256()

        async def read() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                body.update(message.get("body", b""))
            return message

        async def noted(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, read, noted)
        self.last = time.monotonic()
        outcome = ADMITTED if status == 200 else REFUSED if status == 429 else FAILED
        self.trace.call(arrived, outcome)
        prompt = body.hexdigest()
        self.repeated += prompt in self._answered
        if outcome == ADMITTED:
            self._answered.add(prompt)


class _RateLog(logging.Handler):
    """Notes the rates ``core.control`` logs at each step (seconds from the first call)."""

    def __init__(self, timed: _Timed) -> None:
        super().__init__(logging.DEBUG)
        self._timed = timed

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the applied rate of a step's log line."""
        first = self._timed.first
        if first is None or not isinstance(record.args, tuple) or len(record.args) != 4:
            return
        at = record.created - (time.time() - time.monotonic()) - first
        rate = record.args[2]
        if isinstance(rate, (int, float)):
            self._timed.trace.rate(at, float(rate))
