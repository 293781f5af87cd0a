"""The job model, its status machine and the records a job produces."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from promptforge.core.messages import Prompt, messages_from_dicts


class JobStatus(enum.StrEnum):
    """Public job status. A job ends in ``COMPLETED``, ``FAILED`` or ``CANCELLED``."""

    WAITING_FOR_UPLOAD = "WAITING_FOR_UPLOAD"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def final(self) -> bool:
        """True for the three statuses a job never leaves."""
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


# The transitions the status machine allows; anything else is a bug or a replay.
ALLOWED_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.WAITING_FOR_UPLOAD: frozenset(
        {JobStatus.PROCESSING, JobStatus.FAILED, JobStatus.CANCELLED}
    ),
    JobStatus.PROCESSING: frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    """Whether the status machine allows ``current`` → ``target``."""
    return target in ALLOWED_TRANSITIONS[current]


@dataclass(frozen=True)
class RateKey:
    """The unit of rate control: all jobs on one (provider, model, credential) share it."""

    provider: str
    model: str
    credential: str = "default"

    @property
    def id(self) -> str:
        """A stable string form, safe in queue names and document ids."""
        return f"{self.provider}~{self.model}~{self.credential}"


@dataclass(frozen=True)
class LineRoute:
    """A line's own provider, model and generation options, over its job's (``route``).

    A drop-in batch (``formats/``) may mix models: each line names its own, and its prompt
    is dispatched under that line's rate key, ``(provider, model, job credential)``.
    """

    provider: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (a line's ``route`` and a task body's)."""
        return {"provider": self.provider, "model": self.model, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LineRoute:
        """Inverse of :meth:`to_dict`; ``KeyError`` on a malformed one."""
        return cls(str(data["provider"]), str(data["model"]), dict(data.get("params") or {}))


@dataclass(frozen=True)
class GenerationParams:
    """Per-job generation options passed to the provider."""

    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: tuple[str, ...] | None = None
    seed: int | None = None
    response_format: dict[str, Any] | None = None
    tools: dict[str, Any] | None = None
    """Phoenix's ``PromptTools`` (``{type: tools, tools, tool_choice?, ...}``) of a prompt
    version; each adapter sends it in its provider's own form."""
    prompt_version_id: str | None = None
    """The prompt version whose template renders each ``{prompt_id, variables}`` row."""

    def to_dict(self) -> dict[str, Any]:
        """The options that are set, as JSON-ready values."""
        out: dict[str, Any] = {}
        for name in (
            "system",
            "temperature",
            "max_tokens",
            "top_p",
            "seed",
            "response_format",
            "tools",
            "prompt_version_id",
        ):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.stop is not None:
            out["stop"] = list(self.stop)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationParams:
        """Inverse of :meth:`to_dict`."""
        values = dict(data)
        if values.get("stop") is not None:
            values["stop"] = tuple(values["stop"])
        return cls(**values)


@dataclass
class JobError:
    """Why a job ended ``FAILED``."""

    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """JSON form."""
        return {"code": self.code, "message": self.message}


@dataclass
class Job:
    """A batch job: what to run, where it stands, and its counters."""

    job_id: str
    tenant_id: str
    provider: str
    model: str
    max_retries: int
    created_at: datetime
    upload_expires_at: datetime
    upload_object: str
    status: JobStatus = JobStatus.WAITING_FOR_UPLOAD
    rpm: int | None = None
    tpm: int | None = None
    credential: str = "default"
    params: GenerationParams = field(default_factory=GenerationParams)
    input_generation: int | None = None
    started_processing_at: datetime | None = None
    completed_at: datetime | None = None
    prompt_count: int = 0
    ingest_done: bool = False
    completed_count: int = 0
    failed_count: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    result_files: tuple[str, ...] = ()
    error: JobError | None = None
    name: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    webhook_url: str | None = None
    webhook_secret: str | None = None
    cancel_requested_at: datetime | None = None
    # The cost cap (core.spend): set at init, never changed; its ledger lives apart.
    max_cost_usd: float | None = None
    # Rerun the failures and pay once for duplicates (core/retry.py, core/dedupe.py):
    # the job whose failures this one re-runs; whether prompts with an identical request
    # are called once; and how many prompts got a copy of such an answer (a counter).
    parent_job_id: str | None = None
    dedupe: bool = False
    deduplicated_count: int = 0

    @property
    def rate_key(self) -> RateKey:
        """The rate key this job's prompts are dispatched under."""
        return RateKey(self.provider, self.model, self.credential)

    def route_of(self, route: LineRoute | None) -> tuple[RateKey, GenerationParams]:
        """The rate key and options a prompt runs with: its line's route over the job's."""
        if route is None:
            return self.rate_key, self.params
        params = GenerationParams.from_dict({**self.params.to_dict(), **route.params})
        return RateKey(route.provider, route.model, self.credential), params

    @property
    def accounted(self) -> int:
        """Prompts with a final outcome (result or error)."""
        return self.completed_count + self.failed_count

    @property
    def cancelling(self) -> bool:
        """A cancel was asked and the job has not ended yet: dispatch nothing more."""
        return self.cancel_requested_at is not None and not self.status.final

    @property
    def ready_to_finalize(self) -> bool:
        """Ingest is done and every prompt has its outcome."""
        return (
            self.status is JobStatus.PROCESSING
            and self.ingest_done
            and self.accounted >= self.prompt_count
        )


class OutcomeKind(enum.StrEnum):
    """A prompt's final outcome: a result line or an error line."""

    RESULT = "result"
    ERROR = "error"


@dataclass(frozen=True)
class Outcome:
    """The one final outcome of one input line, recorded exactly once.

    ``key`` identifies the item within the job: ``p:<prompt_id>`` for a prompt,
    ``l:<line>`` for an input line that never became a prompt (invalid, duplicate).
    ``record`` is the JSON object written to the result shard or to ``errors.jsonl``.
    """

    key: str
    kind: OutcomeKind
    line: int
    record: dict[str, Any]
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def deduplicated(self) -> bool:
        """Whether this is a copy of another prompt's answer (``core.dedupe``): counted apart."""
        return "deduplicated_from" in self.record

    @staticmethod
    def prompt_key(prompt_id: str) -> str:
        """The outcome key of a valid prompt."""
        return f"p:{prompt_id}"

    @staticmethod
    def line_key(line: int) -> str:
        """The outcome key of an input line that is not a valid prompt."""
        return f"l:{line}"


@dataclass(frozen=True)
class PromptTask:
    """The body of one worker task: one prompt (text or chat messages), never a credential.

    ``generation`` rises each time the prompt is re-enqueued (after a 429 or a
    transient error); a delivery of an older generation is stale and does nothing.
    ``attempt`` counts transient failures only: 429s never raise it. ``timeouts``
    counts those of them that were timeouts (each may have been served and billed;
    each doubles the next call's timeout, ``core.retry_policy``) and ``waited`` the
    seconds those calls waited in all.
    """

    job_id: str
    prompt_id: str
    line: int
    prompt: Prompt
    generation: int = 0
    attempt: int = 0
    route: LineRoute | None = None
    timeouts: int = 0
    waited: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the task body: ``prompt`` (text) or ``messages`` (a chat line)."""
        body: dict[str, Any] = {
            "job_id": self.job_id,
            "prompt_id": self.prompt_id,
            "line": self.line,
            "generation": self.generation,
            "attempt": self.attempt,
            "timeouts": self.timeouts,
            "waited": self.waited,
        }
        if isinstance(self.prompt, str):
            body["prompt"] = self.prompt
        else:
            body["messages"] = [message.to_dict() for message in self.prompt]
        if self.route is not None:
            body["route"] = self.route.to_dict()
        return body

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PromptTask:
        """Parse a task body; raises ``KeyError``/``TypeError`` on a malformed one."""
        return cls(
            job_id=str(data["job_id"]),
            prompt_id=str(data["prompt_id"]),
            line=int(data["line"]),
            prompt=messages_from_dicts(data["messages"])
            if "messages" in data
            else str(data["prompt"]),
            generation=int(data.get("generation", 0)),
            attempt=int(data.get("attempt", 0)),
            route=LineRoute.from_dict(data["route"]) if data.get("route") else None,
            timeouts=int(data.get("timeouts", 0)),
            waited=float(data.get("waited", 0.0)),
        )


class ClaimResult(enum.StrEnum):
    """What a worker learns when it tries to claim a prompt before calling the provider."""

    CLAIMED = "claimed"  # go ahead: this delivery holds the lease
    DONE = "done"  # the prompt already has its outcome
    STALE = "stale"  # a newer generation of this prompt exists
    BUSY = "busy"  # another delivery holds a live lease: come back later
    MISSING = "missing"  # the prompt is not registered (job deleted or bad task)


class DeliveryState(enum.StrEnum):
    """Where a webhook delivery stands."""

    PENDING = "pending"  # an attempt is due (or running)
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # given up: the schedule ran out, 410 Gone, or the URL was refused


@dataclass(frozen=True)
class WebhookDelivery:
    """One webhook event of a job, and how its delivery went.

    ``webhook_id`` is the Standard Webhooks ``webhook-id``: the same on every attempt.
    ``body`` is the JSON sent, kept so every attempt sends the same bytes; ``attempts``
    counts the attempts made, and rises by one per attempt (a compare-and-set).
    """

    job_id: str
    webhook_id: str
    event_type: str
    body: str
    created_at: datetime
    attempts: int = 0
    state: DeliveryState = DeliveryState.PENDING
    next_attempt_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    ended_at: datetime | None = None
