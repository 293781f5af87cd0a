"""The faults of issue 6, each stated once for both runtimes: provider side, job, allowance.

A ``Fault`` says what the provider simulator injects, which provider and model the job
uses, its ``max_retries``, and which kinds of calls the checks must allow
(``checks.Allowance``). What happens to the processes (a kill, a restart, a replayed
event) is the runtime's part: ``embedded_run`` and ``google_run``.

The simulator always runs with limits far above any rate a run reaches, zero latency
unless the fault needs calls in flight, and a fixed seed. The 429 storm starts with the
simulator's clock (which starts with the job): the provider admits ``storm_rpm`` requests
a minute, far fewer than the runtime sends, until the run's ``end_storm`` event lifts it
once the provider has refused enough calls and the storm has lasted long enough (an
event, not a time: a loaded machine dispatches late and slowly). The embedded runtime
sends ~700/s, the Cloud Tasks emulator ~50/s, one at a time: each runtime gives its own
rate and numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OPENAI = ("openai", "gpt-4o-mini")
ANTHROPIC = ("anthropic", "claude-3-5-haiku-20241022")  # the one provider that answers 529

_HUGE = "1000000000"
_UNLIMITED_RPM = 1_000_000
BASE_SIMULATOR: tuple[str, ...] = (
    "--seed",
    "6",
    "--rpm",
    str(_UNLIMITED_RPM),
    "--tpm",
    _HUGE,
    "--limit",
    "openai:burst_seconds=1",
    "--limit",
    f"anthropic:input_tpm={_HUGE},output_tpm={_HUGE},burst_seconds=1,"
    f"acceleration_floor_rpm={_HUGE}",
)
"""A fast, fault-free provider: every run adds its fault to these options."""

TRANSIENT_RATE = 0.05
HANG_SECONDS = 120.0  # far past every provider timeout: a hung call is only ever abandoned


def transient_faults(rate: float = TRANSIENT_RATE) -> tuple[str, ...]:
    """5xx, 529 and hung calls, each at ``rate`` of admitted calls."""
    return (
        "--error-rate",
        str(rate),
        "--overloaded-rate",
        str(rate),
        "--timeout-rate",
        str(rate),
        "--hang-seconds",
        str(HANG_SECONDS),
    )


@dataclass(frozen=True)
class Fault:
    """One fault (or all of them): the provider's side and what the checks allow."""

    name: str
    what: str  # one line for the reliability table
    provider: tuple[str, str] = OPENAI
    simulator: tuple[str, ...] = ()  # fault options added to BASE_SIMULATOR
    latency: float = 0.0  # median provider latency (s): calls in flight for a kill
    max_retries: int = 3
    transient: bool = False  # prompts may end as retries_exhausted
    rate_limited: bool = False  # 429s expected
    killed: bool = False  # a real kill mid-call: calls in flight may be repeated once
    # Seconds the embedded runtime waits for a call. Generous unless the fault hangs calls:
    # on a loaded machine a 0-latency answer can take seconds to be read, and a call that
    # times out may be billed again (documented; allowed by the checks, but not the point
    # of a run about duplicates, kills or 429s).
    provider_timeout: float = 30.0
    events: tuple[str, ...] = field(default=())  # what the runtime does to its processes

    @property
    def storm(self) -> bool:
        """A 429 storm from the start of the job, until the ``end_storm`` event."""
        return "end_storm" in self.events

    @property
    def storm_lifted(self) -> str:
        """The limit that ends the storm (``POST /_sim/limits``): the base simulator's."""
        return f"{self.provider[0]}:rpm={_UNLIMITED_RPM}"

    def simulator_args(self, storm_rpm: int, max_latency: float = 1.0) -> tuple[str, ...]:
        """Every simulator option of the run: the storm's start, the latency (capped)."""
        args = BASE_SIMULATOR + self.simulator
        latency = min(self.latency, max_latency)
        args += ("--latency", f"{latency:g}", "--latency-sigma", "0.2")
        if self.storm:
            args += ("--limit-change", f"0:{self.provider[0]}:rpm={storm_rpm}")
        return args


DUPLICATE_DELIVERY = Fault(
    "duplicate-delivery",
    "every task delivered three times (two at once, then one more after both answered)",
    events=("duplicate_all",),
)
EVENT_REPLAY = Fault(
    "event-replay",
    "the upload's finalize event and the job's finalize task each handled three times (two "
    "at once, one after), and the upload URL replayed mid-job",
    events=("replay_events",),
)
WORKER_KILLED = Fault(
    "worker-killed",
    "the process running the workers SIGKILLed with calls in flight, then restarted",
    latency=0.2,
    killed=True,
    events=("kill_mid_call",),
)
TRANSIENT = Fault(
    "transient-5pct",
    "provider 5xx, 529 and timeouts, each on 5% of calls",
    provider=ANTHROPIC,
    simulator=transient_faults(),
    transient=True,
    provider_timeout=3.0,
)
RATE_LIMIT_STORM = Fault(
    "429-storm",
    "a 429 storm: from the start of the job the provider admits a fraction of what is sent "
    "(embedded: 100/s until it has refused 300 calls and 8 s have passed; Google: 1/s, "
    "10 calls, 8 s); max_retries=0, so a 429 counted as a failure would fail the prompt",
    max_retries=0,
    rate_limited=True,
    events=("end_storm",),
)
RESTARTED = Fault(
    "restarted",
    "the server (dispatcher included) stopped and restarted twice: during ingest and mid-dispatch",
    events=("restart_in_ingest", "restart_mid_dispatch"),
)
HANGING = Fault(
    "provider-hangs",
    "the provider hangs on half of all calls (never answers); the client's timeout ends them",
    simulator=("--timeout-rate", "0.5", "--hang-seconds", str(HANG_SECONDS)),
    max_retries=2,
    transient=True,
    provider_timeout=2.0,
)
ALL_TOGETHER = Fault(
    "all-together",
    "all of the above in one job: triple delivery, replays, a restart during ingest, a "
    "SIGKILL mid-call, 5xx/529/timeouts at 5% each, a 429 storm, hung calls",
    provider=ANTHROPIC,
    simulator=transient_faults(),
    latency=0.05,
    transient=True,
    rate_limited=True,
    killed=True,
    provider_timeout=3.0,
    events=("duplicate_all", "replay_events", "restart_in_ingest", "end_storm", "kill_mid_call"),
)

SIGTERM_MID_CALL = Fault(
    "sigterm-mid-call",
    "SIGTERM with calls in flight (embedded: 12 s calls, longer than the 10 s the "
    "dispatcher used to give them; Google: the worker function, 0.5 s calls): the calls are "
    "answered, recorded, and nothing is called again after the restart",
    latency=12.0,
    provider_timeout=30.0,
    events=("sigterm_mid_call",),
)
GOOGLE_SIGTERM_LATENCY = 0.5  # under the Google stack's 1 s provider timeout

SINGLE_FAULTS = (
    DUPLICATE_DELIVERY,
    EVENT_REPLAY,
    WORKER_KILLED,
    TRANSIENT,
    RATE_LIMIT_STORM,
    RESTARTED,
    HANGING,
)
