"""A job's cost cap (``max_cost_usd``): reserve before each call, settle after, refuse at the cap.

The rule, written once and applied by each job store inside its own transaction:

- before a call, the worker asks to **reserve** the call's worst case: its input at one
  token per byte (``core.tokens.max_tokens_of``) plus its ``max_tokens`` (or the model's
  output cap), at the catalogue's list prices. The reservation is granted only if
  ``spent + reserved + worst case <= cap``; the first refusal **stops** the job's budget
  for good, and every later reservation is refused too. So no call starts that could take
  the job over the cap, and none starts after the cap was reached; the prompts refused end
  in ``errors.jsonl`` as ``budget_exceeded`` and the job completes with
  ``stopped_reason: "budget"``.
- after the call, the worker **settles**: the reservation is released and the answer's
  price (from its reported usage) is added to ``spent``. A timed-out call may have been
  billed without telling, so it is charged its whole reservation.

A prompt holds at most one reservation, tagged with its task's generation: a replayed
reserve (the same generation) is granted again without counting twice, a replayed settle
finds nothing to release and does nothing. A reservation left by a generation that never
settled (a worker died after the call) is charged in full when a newer generation reserves.
Amounts are integers in nano-USD (1e-9 USD), exact in both stores.

Jobs without a cap keep no ledger: no reads or writes beyond the job's own.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from promptforge.core.models import Job, PromptTask
from promptforge.core.tokens import max_tokens_of
from promptforge.errors import Unprocessable
from promptforge.providers.catalogue import Catalogue, ModelInfo

NANO = 1_000_000_000
"""Nano-USD per USD: the unit of every stored amount."""

BUDGET_EXCEEDED = "budget_exceeded"
"""The error code of a prompt the cap kept from running."""

BUDGET = "budget"
"""The ``stopped_reason`` of a job whose cap stopped it."""


def to_nano(usd: float) -> int:
    """USD as whole nano-USD, rounded to the nearest."""
    return round(usd * NANO)


def to_usd(nano: int) -> float:
    """Nano-USD back to USD."""
    return nano / NANO


@dataclass(frozen=True)
class Hold:
    """The reservation one prompt holds: for which generation, how much (nano-USD)."""

    generation: int
    amount: int


@dataclass(frozen=True)
class Ledger:
    """A capped job's money: ``spent`` and ``reserved`` in nano-USD, and whether it stopped."""

    spent: int = 0
    reserved: int = 0
    stopped_at: datetime | None = None

    @property
    def stopped(self) -> bool:
        """The cap was reached: no reservation is granted any more."""
        return self.stopped_at is not None


@dataclass(frozen=True)
class Reserved:
    """What a reserve decided: granted or not, and the ledger and hold to store."""

    granted: bool
    ledger: Ledger
    hold: Hold | None


def decide_reserve(
    ledger: Ledger, hold: Hold | None, *, generation: int, amount: int, cap: int, now: datetime
) -> Reserved:
    """Whether a prompt at ``generation`` may reserve ``amount`` under ``cap`` (see the module)."""
    if hold is not None and hold.generation == generation:
        return Reserved(True, ledger, hold)  # a replay: granted once already
    if hold is not None:  # an older generation never settled: its call may have been billed
        ledger = replace(
            ledger, spent=ledger.spent + hold.amount, reserved=ledger.reserved - hold.amount
        )
    if ledger.stopped or ledger.spent + ledger.reserved + amount > cap:
        stopped = ledger if ledger.stopped else replace(ledger, stopped_at=now)
        return Reserved(False, stopped, None)
    granted = replace(ledger, reserved=ledger.reserved + amount)
    return Reserved(True, granted, Hold(generation, amount))


def decide_settle(
    ledger: Ledger, hold: Hold | None, *, generation: int, cost: int | None
) -> Ledger | None:
    """The ledger after settling ``generation`` at ``cost`` (None: the whole hold); None when
    there is nothing to settle (a replay, or a hold of another generation)."""
    if hold is None or hold.generation != generation:
        return None
    charged = hold.amount if cost is None else cost
    return replace(ledger, spent=ledger.spent + charged, reserved=ledger.reserved - hold.amount)


class SpendStore(Protocol):
    """The ledger operations a job store implements, each in one transaction of its own."""

    async def reserve_spend(  # noqa: PLR0917 - the rule's inputs, positionally in tests
        self, job_id: str, prompt_id: str, generation: int, amount: int, cap: int, now: datetime
    ) -> bool:
        """Apply ``decide_reserve`` to the stored ledger and hold; whether it was granted."""
        ...

    async def settle_spend(
        self, job_id: str, prompt_id: str, generation: int, cost: int | None
    ) -> None:
        """Apply ``decide_settle`` to the stored ledger and hold."""
        ...

    async def get_ledger(self, job_id: str) -> Ledger | None:
        """The job's ledger, None if it never reserved."""
        ...


def check_priced(catalogue: Catalogue, provider: str, model: str, cap: float | None) -> None:
    """A 422 ``unpriced_model`` when a cap is asked for a model whose price is unknown."""
    if cap is None:
        return
    info = catalogue.find(provider, model)
    if info is None or (info.input_usd_per_mtok == 0 and info.output_usd_per_mtok == 0):
        raise Unprocessable(
            "unpriced_model",
            f"max_cost_usd needs the price of {provider}/{model}, and the model catalogue has "
            "none; add its prices to the operator catalogue (models_file) or drop max_cost_usd",
            details={"provider": provider, "model": model},
        )


def call_cost(info: ModelInfo, input_tokens: int, output_tokens: int) -> int:
    """The list price of one call in nano-USD, rounded up."""
    return math.ceil(Catalogue.estimate_cost(info, input_tokens, output_tokens) * NANO - 1e-6)


def worst_case(info: ModelInfo, job: Job, task: PromptTask) -> int:
    """The most one call of ``task`` can cost (nano-USD): every byte a token (the prompt's,
    and the JSON of a response schema and tools, which providers bill as input too), and
    the whole output."""
    params = job.route_of(task.route)[1]
    output = params.max_tokens if params.max_tokens is not None else info.max_output_tokens
    extras = sum(
        len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
        for value in (params.response_format, params.tools)
        if value is not None
    )
    return call_cost(info, max_tokens_of(task.prompt, params.system) + extras, output)


def status_fields(job: Job, ledger: Ledger | None) -> dict[str, Any]:
    """The status body's budget block: the cap, what is spent and reserved, why it stopped."""
    if job.max_cost_usd is None:
        return {
            "max_cost_usd": None,
            "spent_usd": None,
            "reserved_usd": None,
            "stopped_reason": None,
        }
    ledger = ledger or Ledger()
    return {
        "max_cost_usd": job.max_cost_usd,
        "spent_usd": round(to_usd(ledger.spent), 9),
        "reserved_usd": round(to_usd(ledger.reserved), 9),
        "stopped_reason": BUDGET if ledger.stopped else None,
    }
