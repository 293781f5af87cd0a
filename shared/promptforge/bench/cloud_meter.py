"""The bench's instrumented function process: the real ``functions/NAME/main.py``, metered.

``promptforge bench cloud`` serves each function from a two-line wrapper file
(``wrapper_source``) instead of its ``main.py``; the wrapper calls ``instrument``, which
loads the real ``main.py``, has every ``Deps`` the instance builds wrapped by
``gcp.metering.meter_deps``, and returns the entry point wrapped to count invocations,
Cloud Tasks push deliveries and handler time. The counts are written as JSON to one
file per process (every second and at exit), which the bench sums. Nothing here is
imported by a deployed function.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import functions_framework.aio

from promptforge.gcp import functions as gcp_functions
from promptforge.gcp.metering import Meter, meter_deps

FLUSH_SECONDS = 1.0

WRAPPER = """\
from promptforge.bench.cloud_meter import instrument

{name} = instrument({name!r}, {main!r}, {out!r})
"""


def wrapper_source(name: str, main: Path, out: Path) -> str:
    """The text of the wrapper ``main.py`` that serves ``main`` metered into ``out``."""
    return WRAPPER.format(name=name, main=str(main), out=str(out))


def instrument(name: str, main: str, out: str) -> Callable[..., Any]:
    """Load the function ``name`` from ``main``, meter it, return its wrapped entry point."""
    meter = Meter()
    _meter_built_deps(meter)
    spec = importlib.util.spec_from_file_location(f"promptforge_real_{name}", main)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {main}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entry: Callable[..., Awaitable[Any]] = getattr(module, name)
    flushing = _Flusher(meter, Path(out))
    if name == "ingest":
        return functions_framework.aio.cloud_event(
            _named(name, _timed(name, entry, meter, flushing))
        )
    return functions_framework.aio.http(_named(name, _timed(name, entry, meter, flushing)))


def _meter_built_deps(meter: Meter) -> None:
    """Every ``Deps`` this process builds gets metered clients (the one patch, bench only)."""
    build = gcp_functions.build_deps  # type: ignore[attr-defined]

    async def metered_build(*args: Any, **kwargs: Any) -> Any:
        deps = await build(*args, **kwargs)
        meter_deps(deps, meter)
        return deps

    gcp_functions.build_deps = metered_build  # type: ignore[attr-defined]


def _timed(
    name: str, entry: Callable[..., Awaitable[Any]], meter: Meter, flushing: _Flusher
) -> Callable[..., Awaitable[Any]]:
    async def timed(request: Any) -> Any:
        flushing.ensure_started()
        started = time.perf_counter()
        if _is_task_delivery(request):
            meter.add("tasks.delivery")
        meter.add(f"run.{name}.requests")
        try:
            response = await entry(request)
        finally:
            meter.add(f"run.{name}.handler_us", int((time.perf_counter() - started) * 1e6))
        if isinstance(response, gcp_functions.AsgiPassThrough):
            response._app = _timed_app(name, response._app, meter)
        return response

    return timed


def _timed_app(name: str, app: Any, meter: Meter) -> Any:
    """The api's ASGI app runs after the entry point returns: time it too."""

    async def timed(scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        try:
            await app(scope, receive, send)
        finally:
            meter.add(f"run.{name}.handler_us", int((time.perf_counter() - started) * 1e6))

    return timed


def _is_task_delivery(request: Any) -> bool:
    headers = getattr(request, "headers", None)
    return headers is not None and "x-cloudtasks-taskname" in headers


def _named(name: str, function: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    function.__name__ = function.__qualname__ = name
    return function


class _Flusher:
    """Writes the meter to ``<out stem>.<pid>.json`` every second, from the serving process.

    Started on the first request, not at import: functions-framework may import the
    module in a parent and serve from forked children, where a thread started at
    import would not exist.
    """

    def __init__(self, meter: Meter, out: Path) -> None:
        self._meter = meter
        self._out = out
        self._pid: int | None = None

    def ensure_started(self) -> None:
        """Start flushing in this process if it is not flushing yet."""
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        threading.Thread(target=self._loop, name="meter-flush", daemon=True).start()
        atexit.register(self.flush)

    def flush(self) -> None:
        """Write the counts now (atomically)."""
        out = self._out.with_name(f"{self._out.stem}.{os.getpid()}.json")
        temporary = out.with_suffix(".tmp")
        temporary.write_text(json.dumps(self._meter.snapshot()), encoding="utf-8")
        temporary.replace(out)

    def _loop(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            self.flush()
