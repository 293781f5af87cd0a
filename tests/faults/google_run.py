"""One fault run on the Google path (see ``google_stack``): the same faults, Google's levers.

The simulator restarts with the fault's options (a storm starts with it),
the proxies are set, the job is created and its file PUT to the V4 signed URL; the
finalize CloudEvent starts everything else. Events, triggered by the job's status:

- ``duplicate_all``: every worker task, every ``ingest``/``slice``/``finalize``/``expire``
  task and every finalize CloudEvent delivered three times by the proxies: in a row, or
  two at once then one after (every control-queue task and event; one worker task in
  ``WORKER_RACE_EVERY``: two deliveries of one prompt at once contend for its Firestore
  document, which the emulator settles in ~2 s). Not the controller's ``control`` ticks:
  each tick enqueues the next one under a name Cloud Tasks refuses to create twice, but
  the emulator has no name dedupe, so every duplicated tick would start one more chain
  of ticks (the chains would multiply until the control queue, served one task at a
  time, did nothing else);
- ``replay_events``: the finalize CloudEvent and the ``ingest``, ``slice`` and
  ``finalize`` tasks tripled; the event posted once more after the ingest ended; the
  upload URL replayed once the ingest has read the file (see ``_replay_events``);
- ``restart_in_ingest`` / ``restart_mid_dispatch``: all four functions stopped (SIGTERM)
  and started again, while the file is being fanned out / once 60% are done;
- ``end_storm``: the 429 storm, on since the simulator started, lifted once the provider
  has refused ``STORM_REFUSALS`` calls and ``STORM_SECONDS`` have passed (after a restart
  during ingest, the calls meet it however long the restart took);
- ``kill_mid_call``: once 40% are done and a call is in flight at the simulator, the
  worker function SIGKILLed and started again; Cloud Tasks retries its task, which is
  BUSY until the dead instance's lease ends;
- ``sigterm_mid_call``: once a call is in flight, the worker function SIGTERMed (as Cloud
  Run does at scale-in) and started again: the server stops accepting, the request in
  flight gets its answer and records it, nothing is called twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx

from promptforge.core.chunks import CHECKPOINT_ANSWERS
from promptforge.core.queues import SHARD_RATE, key_shards
from promptforge.core.tasknames import TaskTarget
from promptforge.devstack.cloudevents import finalize_event
from promptforge.ratecontrol.controller import DEFAULT_CONFIG
from promptforge.ratecontrol.state import Ceilings
from tests.e2e.jobs import Finished, download, init_job, jsonl, wait_final
from tests.faults.checks import FaultRun, Summary, check_fault_run
from tests.faults.google_stack import INPUT, PROXIED, GoogleStack
from tests.faults.scenarios import GOOGLE_SIGTERM_LATENCY, Fault
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
RESTART_AT = 0.6
JOB_RPM = 120_000
FINISH_WITHIN = 600.0  # generous: the suite must pass on a loaded machine
CONTROL_TARGETS: list[str] = [
    *(TaskTarget.INGEST, TaskTarget.SLICE, TaskTarget.FINALIZE, TaskTarget.FINALIZE_STEP)
]
# 1/s admitted; the emulator sends up to ~50/s, unthrottled. Lifted once the provider has
# refused STORM_REFUSALS calls (a sixth of a 60-prompt job) and STORM_SECONDS have passed.
STORM_RPM, STORM_SECONDS, STORM_REFUSALS = 60, 8.0, 10
MAX_LATENCY = 0.05  # one call at a time per queue: keep the serial queues fast
# The job's rpm gives its key several queues, each dispatched one task at a time by the
# emulator: that many calls can be in flight, so a kill can cut off that many.
KEY_QUEUES = key_shards(Ceilings(rpm=JOB_RPM), SHARD_RATE, DEFAULT_CONFIG.max_rate)
WORKER_RACE_EVERY = 25
# A chunk keeps up to CHECKPOINT_ANSWERS answers, writes one checkpoint of as many while it
# goes on, and has a few calls in flight (MAX_LATENCY at the chunk's pace): docs/reliability.md.
KILL_WINDOW = 2 * CHECKPOINT_ANSWERS + 5


@dataclass
class _Running:
    stack: GoogleStack
    watch: JobWatch
    body: bytes
    total: int
    upload_url: str = ""
    repeatable: frozenset[str] = frozenset()
    events: list[str] = field(default_factory=list)
    lift: str = ""  # the limit that ends the 429 storm
    storm_from: float = 0.0  # monotonic time the storm began (the simulator's start)


def run_google(stack: GoogleStack, fault: Fault, prompts: list[dict[str, str]]) -> FaultRun:
    """Run ``prompts`` as one job on the Google path under ``fault``."""
    provider, model = fault.provider
    latency = GOOGLE_SIGTERM_LATENCY if "sigterm_mid_call" in fault.events else MAX_LATENCY
    if "kill_mid_call" in fault.events:
        # Calls of 50 ms on serial queues: on a loaded machine the job's last 60 % could end
        # between two looks for a call in flight (a CI run found none in 60 s). The fault's
        # own 0.2 s keeps calls in flight while the kill is aimed.
        latency = fault.latency
    stack.start_simulator(*fault.simulator_args(STORM_RPM, latency))
    storm_from = time.monotonic()
    stack.no_faults()
    with httpx.Client(timeout=60) as client:
        watch = JobWatch(client, stack.api, stack.api_key, "")
        run = _Running(stack, watch, jsonl(list(prompts)), len(prompts))
        run.lift, run.storm_from = fault.storm_lifted, storm_from
        _set_proxies(run, fault.events)
        started = time.monotonic()
        job = init_job(
            client,
            stack.api,
            stack.api_key,
            provider=provider,
            model=model,
            max_retries=fault.max_retries,
            rpm=JOB_RPM,
        )
        run.watch.job_id, run.upload_url = job["job_id"], job["upload_url"]
        put = _put(client, run.upload_url, run.body)
        assert put.status_code == 200, put.text
        try:
            for event in fault.events:
                _EVENTS.get(event, _nothing)(run)  # duplicate_all: the proxies do it
            status = wait_final(client, stack.api, stack.api_key, run.watch.job_id, FINISH_WITHIN)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{stack.logs()}") from exc
        seconds = time.monotonic() - started
        finished = Finished(status, download(client, stack.api, stack.api_key, run.watch.job_id))
        stats = sim_stats(client, stack.sim_url)
    for name in PROXIED:
        counts = stack.proxy_counts(name)
        if counts["tripled"]:
            answers = ", ".join(f"{n}x{code}" for code, n in sorted(counts["answers"].items()))
            run.events.append(
                f"{name} proxy: {counts['tripled']} tripled, {counts['raced']} raced "
                f"(deliveries answered {answers})"
            )
    stack.no_faults()
    return FaultRun(finished, stats, seconds, run.repeatable, run.events)


def check_google(run: FaultRun, fault: Fault, prompts: list[dict[str, str]]) -> Summary:
    """``checks.check_fault_run``; a kill cuts off, per queue of the key (one chunk in
    flight each), the answers of its chunk not yet checkpointed and its calls in flight."""
    return check_fault_run(run, fault, prompts, max_repeats=KEY_QUEUES * KILL_WINDOW)


def _put(client: httpx.Client, url: str, body: bytes) -> httpx.Response:
    return client.put(url, content=body, headers={"Content-Type": "application/octet-stream"})


def _nothing(run: _Running) -> None:
    """No setup (or no action) for this event."""


def _set_proxies(run: _Running, events: tuple[str, ...]) -> None:
    """Which requests the proxies deliver three times, for the run's events."""
    if "duplicate_all" in events:
        run.stack.triple("ingest", ["event"])
        run.stack.triple("worker", ["*"], race_every=WORKER_RACE_EVERY)
        run.stack.triple("controller", [*CONTROL_TARGETS, TaskTarget.EXPIRE])
        run.events.append(
            "every task but the controller's ticks, and every finalize event, delivered three "
            "times (proxies)"
        )
    elif "replay_events" in events:
        run.stack.triple("ingest", ["event"])
        run.stack.triple("controller", CONTROL_TARGETS)
        run.events.append(
            "finalize event and ingest/slice/finalize/finalize_step tasks tripled (proxies)"
        )


def _replay_events(run: _Running) -> None:
    """Replay the upload URL and the finalize event once the ingest has read the file.

    A signed PUT URL replayed on GCS writes a new generation (it cannot be made
    create-only without a header the client would have to send). The ingest reads the
    generation the job started on, which the input bucket keeps for a day after it is
    replaced (versioning, ``infra/``); the GCS stand-in keeps no old generations, so
    here the replay waits for the ingest (earlier, the job would end FAILED
    ``input_overwritten`` on the stand-in, never with mixed input).
    """
    status = run.watch.wait_for("replay the upload", lambda s: s["ingest_complete"])
    again = _put(run.watch.client, run.upload_url, run.body)
    assert again.status_code in (200, 409), again.text
    run.events.append(
        f"upload URL replayed after the ingest ({status['prompt_count']} registered): "
        f"{again.status_code}"
    )
    name = f"tenant-f/{run.watch.job_id}/prompts.jsonl"
    _post_finalize_event(run.watch.client, run.stack, name)
    run.events.append("finalize event posted again after the ingest")


def _post_finalize_event(client: httpx.Client, stack: GoogleStack, name: str) -> None:
    """Deliver the object's first finalize CloudEvent again, as Eventarc may."""
    meta = client.get(f"{stack.gcs.url}/storage/v1/b/{INPUT}/o/{quote(name, safe='')}")
    meta.raise_for_status()
    headers, data = finalize_event(INPUT, name, meta.json()["generation"])
    got = client.post(stack.proxies["ingest"].url, json=data, headers=headers)
    assert got.status_code == 200, got.text


def _restart_in_ingest(run: _Running) -> None:
    status = run.watch.wait_for("restart during ingest", lambda s: s["status"] == "PROCESSING")
    run.stack.restart_functions()
    run.events.append(
        f"all functions SIGTERM + restart at {status['prompt_count']}/{run.total} registered"
    )


def _restart_mid_dispatch(run: _Running) -> None:
    status = run.watch.wait_for("restart mid-dispatch", lambda s: done(s) >= RESTART_AT * run.total)
    run.stack.restart_functions()
    run.events.append(f"all functions SIGTERM + restart at {done(status)}/{run.total} done")


def _end_storm(run: _Running) -> None:
    refused, lasted = end_storm(
        run.watch.client,
        run.stack.sim_url,
        run.lift,
        refusals=STORM_REFUSALS,
        lasting=STORM_SECONDS,
        since=run.storm_from,
    )
    run.events.append(f"429 storm lifted after {lasted:.1f} s and {refused} refusals")


def _kill_mid_call(run: _Running) -> None:
    status = run.watch.wait_for("kill mid-call", lambda s: done(s) >= KILL_AT * run.total)
    client, sim_url = run.watch.client, run.stack.sim_url
    calls = wait_in_flight(client, sim_url)
    # Checked before the kill: a worker killed and never restarted fails every later test
    # on this stack.
    assert calls > 0, "no call was in flight: the kill would not be mid-call"
    run.stack.kill_function("worker")
    # The simulator finishes (and bills) the call the kill cut off.
    run.repeatable = frozenset(wait_answered(client, sim_url)["attempts_per_prompt"])
    run.stack.start_function("worker")
    run.events.append(
        f"worker SIGKILL at {done(status)}/{run.total} done, {calls} in flight, restarted"
    )


def _sigterm_mid_call(run: _Running) -> None:
    status = run.watch.wait_for("SIGTERM mid-call", lambda s: done(s) >= KILL_AT * run.total)
    client, sim_url = run.watch.client, run.stack.sim_url
    calls = wait_in_flight(client, sim_url)
    assert calls > 0, "no call was in flight: the SIGTERM would not be mid-call"
    run.stack.restart_functions(("worker",))
    left = in_flight(sim_stats(client, sim_url))
    assert left == 0, f"{left} calls still in flight after the worker stopped: it cut them off"
    run.events.append(
        f"worker SIGTERM at {done(status)}/{run.total} done, {calls} in flight (answered and "
        "recorded before it exited), restarted"
    )


_EVENTS: dict[str, Callable[[_Running], None]] = {
    "replay_events": _replay_events,
    "restart_in_ingest": _restart_in_ingest,
    "end_storm": _end_storm,
    "restart_mid_dispatch": _restart_mid_dispatch,
    "kill_mid_call": _kill_mid_call,
    "sigterm_mid_call": _sigterm_mid_call,
}
