"""One fault run on the embedded runtime: the simulator and `promptforge serve` as processes.

The run resets the simulator (its clock starts the storm schedule), creates the job,
PUTs the file, then plays the fault's events at their moments, each triggered by the
job's status as a client sees it:

- ``duplicate_all`` / ``replay_events``: the server runs with the test-only
  ``PROMPTFORGE_FAULT_DUPLICATE_DELIVERY`` (every target, or ``ingest`` and ``finalize``);
  ``replay_events`` also replays the upload URL while the first ingest runs (refused:
  uploads are create-only);
- ``restart_in_ingest``: SIGTERM while the file is still being ingested, start again;
- ``end_storm``: the 429 storm, on since the simulator's reset, is lifted once the
  provider has refused the fault's ``STORM_REFUSALS`` and ``STORM_SECONDS`` have passed;
- ``kill_mid_call``: once 40% of the prompts are done and calls are in flight at the
  simulator, SIGKILL the process group (no clean shutdown), start again. Calls in flight
  may then be made twice: the prompts the simulator had seen by then are recorded;
- ``restart_mid_dispatch``: SIGTERM once 60% are done, start again;
- ``sigterm_mid_call``: SIGTERM once calls are in flight at the simulator; the server
  must stop taking work, let those calls be answered, record them and exit by itself
  (no SIGKILL), with no call left in flight; then start again. No prompt may be billed
  twice.

Every SIGTERM restart waits for the server to exit by itself (``STOP_WITHIN``, generous
for a loaded machine) and fails the run if it had to be SIGKILLed: that would be a kill,
whose calls in flight may be billed twice, not the clean stop the run is about.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.e2e.jobs import Finished, download, init_job, jsonl, wait_final
from tests.e2e.processes import Process, create_key, server, simulator
from tests.faults.checks import FaultRun, Summary, check_fault_run
from tests.faults.scenarios import Fault
from tests.faults.watch import (
    JobWatch,
    done,
    end_storm,
    in_flight,
    sim_stats,
    wait_answered,
    wait_in_flight,
)

KILL_AT = 0.4
SIGTERM_IN_FLIGHT = 50  # calls in flight at the SIGTERM
RESTART_AT = 0.6
JOB_RPM = 120_000  # the job's ceiling: the controller starts there (it caps at 2,000/s)
MAX_CONCURRENT = 250  # on runs with a kill: at most this many calls can be cut off
FINISH_WITHIN = 600.0  # generous: the suite must pass on a loaded machine
STOP_WITHIN = 120.0  # a SIGTERMed server waits for its calls in flight (each under its timeout)
# 100/s admitted of the ~700/s sent, from the simulator's reset (before the ingest) until
# the provider has refused the fault's STORM_REFUSALS calls, and at least STORM_SECONDS.
# The storm run: enough 429s that, with max_retries=0, any one counted as a failure would
# show (an idle machine draws them in about 3 s, a loaded one later: the storm waits).
# All together: Anthropic's headers state the storm's limit, so the controller soon stops
# drawing 429s, and the job must still be running for the kill at 40% that follows.
STORM_RPM, STORM_SECONDS = 6000, 8.0
STORM_REFUSALS = {"429-storm": 300, "all-together": 50}


@dataclass
class _Running:
    """The job under test and the server serving it now (replaced on restarts)."""

    watch: JobWatch
    proc: Process
    data: Path
    env: dict[str, str]
    sim_url: str
    body: bytes
    total: int
    upload_url: str = ""
    repeatable: frozenset[str] = frozenset()
    events: list[str] = field(default_factory=list)
    lift: str = ""  # the limit that ends the 429 storm
    refusals: int = 0  # the 429s the storm must draw before it is lifted
    storm_from: float = 0.0  # monotonic time the storm began (the simulator's reset)

    def restart(self) -> None:
        """SIGTERM the server (it stops cleanly), then start a new one on the same data."""
        self.stop_cleanly()
        self.start()

    def stop_cleanly(self) -> None:
        """SIGTERM the server and wait until it exits by itself."""
        assert self.proc.terminate(STOP_WITHIN), (
            f"the server did not stop within {STOP_WITHIN:g} s of SIGTERM: SIGKILLed"
        )

    def start(self) -> None:
        """Start a server on the run's data directory."""
        self.proc = server(self.data, self.sim_url, **self.env)
        self.proc.start("/healthz")
        self.watch.api_url = self.proc.url


def run_embedded(tmp: Path, fault: Fault, prompts: list[dict[str, str]]) -> FaultRun:
    """Run ``prompts`` as one job under ``fault``; return the finished job and the counts."""
    data = tmp / "data"
    api_key = create_key(data, "faults")
    provider, model = fault.provider
    with (
        simulator(tmp, *fault.simulator_args(STORM_RPM, max(1.0, fault.latency))) as sim,
        httpx.Client(timeout=60) as client,
    ):
        env = _server_env(fault, sim.url)
        run = _Running(
            JobWatch(client, "", api_key, ""),
            server(data, sim.url, **env),
            data,
            env,
            sim.url,
            jsonl(list(prompts)),
            len(prompts),
            lift=fault.storm_lifted,
            refusals=STORM_REFUSALS.get(fault.name, 0),
        )
        run.proc.start("/healthz")
        run.watch.api_url = run.proc.url
        try:
            client.post(f"{sim.url}/_sim/reset").raise_for_status()
            started = run.storm_from = time.monotonic()
            job = init_job(
                client,
                run.proc.url,
                api_key,
                provider=provider,
                model=model,
                max_retries=fault.max_retries,
                rpm=JOB_RPM,
            )
            run.watch.job_id, run.upload_url = job["job_id"], job["upload_url"]
            _put(client, run.upload_url, run.body)
            for event in fault.events:
                _EVENTS[event](run)
            status = wait_final(client, run.proc.url, api_key, run.watch.job_id, FINISH_WITHIN)
            seconds = time.monotonic() - started
            finished = Finished(status, download(client, run.proc.url, api_key, run.watch.job_id))
            stats = sim_stats(client, sim.url)
        finally:
            run.proc.stop()
    return FaultRun(finished, stats, seconds, run.repeatable, run.events)


def check_embedded(run: FaultRun, fault: Fault, prompts: list[dict[str, str]]) -> Summary:
    """``checks.check_fault_run``: a kill cuts off at most the calls that can be in flight."""
    return check_fault_run(run, fault, prompts, max_repeats=MAX_CONCURRENT)


def _server_env(fault: Fault, sim_url: str) -> dict[str, str]:
    env = {
        "PROMPTFORGE_ANTHROPIC_API_KEY": "sk-ant-test-provider-key-0123456789",
        "PROMPTFORGE_ANTHROPIC_BASE_URL": sim_url,
        "PROMPTFORGE_PROVIDER_TIMEOUT": str(fault.provider_timeout),
    }
    if fault.killed:
        env["PROMPTFORGE_MAX_CONCURRENT_DISPATCHES"] = str(MAX_CONCURRENT)
    if "duplicate_all" in fault.events:
        env["PROMPTFORGE_FAULT_DUPLICATE_DELIVERY"] = "all"
    elif "replay_events" in fault.events:
        env["PROMPTFORGE_FAULT_DUPLICATE_DELIVERY"] = "ingest,finalize"
    return env


def _put(client: httpx.Client, url: str, body: bytes) -> httpx.Response:
    return client.put(url, content=body, headers={"Content-Type": "application/octet-stream"})


def _duplicate_all(run: _Running) -> None:
    run.events.append("every delivery tripled (server setting)")


def _replay_events(run: _Running) -> None:
    status = run.watch.wait_for("replay the upload", lambda s: s["status"] == "PROCESSING")
    again = _put(run.watch.client, run.upload_url, run.body)
    # Uploads are create-only (409 upload_exists); where a store accepts the overwrite, its
    # new generation is announced like any upload and must change nothing either.
    assert again.status_code in (200, 409), again.text
    if again.status_code == 409:
        assert again.json()["error"]["code"] == "upload_exists", again.text
    run.events.append(
        f"upload URL replayed at {status['prompt_count']}/{run.total} ingested: {again.status_code}"
    )


def _restart_in_ingest(run: _Running) -> None:
    status = run.watch.wait_for("restart during ingest", lambda s: s["prompt_count"] > 0)
    run.restart()
    assert status["prompt_count"] < run.total, "ingest had finished: the restart came too late"
    run.events.append(f"SIGTERM + restart at {status['prompt_count']}/{run.total} ingested")


def _restart_mid_dispatch(run: _Running) -> None:
    status = run.watch.wait_for("restart mid-dispatch", lambda s: done(s) >= RESTART_AT * run.total)
    run.restart()
    run.events.append(f"SIGTERM + restart at {done(status)}/{run.total} done")


def _end_storm(run: _Running) -> None:
    refused, lasted = end_storm(
        run.watch.client,
        run.sim_url,
        run.lift,
        refusals=run.refusals,
        lasting=STORM_SECONDS,
        since=run.storm_from,
    )
    run.events.append(f"429 storm lifted after {lasted:.1f} s and {refused} refusals")


def _kill_mid_call(run: _Running) -> None:
    status = run.watch.wait_for("kill mid-call", lambda s: done(s) >= KILL_AT * run.total)
    calls = wait_in_flight(run.watch.client, run.sim_url)
    run.proc.kill()
    assert calls > 0, "no call was in flight: the kill would not be mid-call"
    # The simulator finishes (and bills) the calls the kill cut off.
    stats = wait_answered(run.watch.client, run.sim_url)
    run.repeatable = frozenset(stats["attempts_per_prompt"])
    run.start()
    run.events.append(
        f"SIGKILL at {done(status)}/{run.total} done, {calls} calls in flight, restarted"
    )


def _sigterm_mid_call(run: _Running) -> None:
    status = run.watch.wait_for("SIGTERM mid-call", lambda s: s["prompt_count"] == run.total)
    calls = wait_in_flight(run.watch.client, run.sim_url, at_least=SIGTERM_IN_FLIGHT)
    assert calls >= SIGTERM_IN_FLIGHT, "too few calls in flight: the SIGTERM would not be mid-call"
    started = time.monotonic()
    run.stop_cleanly()
    stopped = time.monotonic() - started
    left = in_flight(sim_stats(run.watch.client, run.sim_url))
    assert left == 0, f"{left} calls still in flight after the server stopped: it cut them off"
    run.start()
    run.events.append(
        f"SIGTERM at {done(status)}/{run.total} done with {calls} calls in flight; the server "
        f"let them finish and exited by itself in {stopped:.1f} s; restarted"
    )


_EVENTS: dict[str, Callable[[_Running], None]] = {
    "duplicate_all": _duplicate_all,
    "replay_events": _replay_events,
    "restart_in_ingest": _restart_in_ingest,
    "end_storm": _end_storm,
    "restart_mid_dispatch": _restart_mid_dispatch,
    "kill_mid_call": _kill_mid_call,
    "sigterm_mid_call": _sigterm_mid_call,
}
