"""The SQLite job store's cost-cap ledger (``core.spend``): one row per capped job, one per hold.

Each operation reads the job's ledger row and the prompt's hold, asks the core rule
(``decide_reserve`` / ``decide_settle``) and writes the answer back in one transaction.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from promptforge.core.spend import Hold, Ledger, decide_reserve, decide_settle
from promptforge.jobstore._sqlite_batch import SqliteCalls
from promptforge.jobstore._sqlite_schema import from_micros, to_micros, transaction


def _read(conn: sqlite3.Connection, job_id: str, prompt_id: str) -> tuple[Ledger, Hold | None]:
    row = conn.execute(
        "SELECT spent, reserved, stopped_at FROM spend_ledgers WHERE job_id = ?", (job_id,)
    ).fetchone()
    ledger = Ledger() if row is None else Ledger(row[0], row[1], _moment(row[2]))
    held = conn.execute(
        "SELECT generation, amount FROM spend_holds WHERE job_id = ? AND prompt_id = ?",
        (job_id, prompt_id),
    ).fetchone()
    return ledger, None if held is None else Hold(held[0], held[1])


def _moment(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


def _write(
    conn: sqlite3.Connection, job_id: str, prompt_id: str, ledger: Ledger, hold: Hold | None
) -> None:
    stopped = None if ledger.stopped_at is None else to_micros(ledger.stopped_at)
    conn.execute(
        "INSERT INTO spend_ledgers (job_id, spent, reserved, stopped_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (job_id) DO UPDATE SET spent = excluded.spent, "
        "reserved = excluded.reserved, stopped_at = excluded.stopped_at",
        (job_id, ledger.spent, ledger.reserved, stopped),
    )
    if hold is None:
        conn.execute(
            "DELETE FROM spend_holds WHERE job_id = ? AND prompt_id = ?", (job_id, prompt_id)
        )
    else:
        conn.execute(
            "INSERT OR REPLACE INTO spend_holds (job_id, prompt_id, generation, amount) "
            "VALUES (?, ?, ?, ?)",
            (job_id, prompt_id, hold.generation, hold.amount),
        )


def reserve(  # noqa: PLR0917 - the rule's inputs
    conn: sqlite3.Connection,
    job_id: str,
    prompt_id: str,
    generation: int,
    amount: int,
    cap: int,
    now: datetime,
) -> bool:
    """``decide_reserve`` on the stored ledger and hold, written back; whether granted."""
    with transaction(conn):
        ledger, hold = _read(conn, job_id, prompt_id)
        verdict = decide_reserve(
            ledger, hold, generation=generation, amount=amount, cap=cap, now=now
        )
        if verdict.ledger != ledger or verdict.hold != hold:
            _write(conn, job_id, prompt_id, verdict.ledger, verdict.hold)
        return verdict.granted


def settle(
    conn: sqlite3.Connection, job_id: str, prompt_id: str, generation: int, cost: int | None
) -> None:
    """``decide_settle`` on the stored ledger and hold, written back."""
    with transaction(conn):
        ledger, hold = _read(conn, job_id, prompt_id)
        after = decide_settle(ledger, hold, generation=generation, cost=cost)
        if after is not None:
            _write(conn, job_id, prompt_id, after, None)


def ledger_of(conn: sqlite3.Connection, job_id: str) -> Ledger | None:
    """The job's ledger, None if it has none."""
    row = conn.execute(
        "SELECT spent, reserved, stopped_at FROM spend_ledgers WHERE job_id = ?", (job_id,)
    ).fetchone()
    return None if row is None else Ledger(row[0], row[1], _moment(row[2]))


class SqliteSpend(SqliteCalls):
    """The ``SpendStore`` methods of ``SqliteJobStore`` (which opens the database)."""

    async def reserve_spend(  # noqa: PLR0917 - the port's signature
        self, job_id: str, prompt_id: str, generation: int, amount: int, cap: int, now: datetime
    ) -> bool:
        """Reserve ``amount`` nano-USD for the prompt's call under ``cap`` (``core.spend``)."""
        return await self._call(reserve, job_id, prompt_id, generation, amount, cap, now)

    async def settle_spend(
        self, job_id: str, prompt_id: str, generation: int, cost: int | None
    ) -> None:
        """Release the prompt's reservation and charge ``cost`` (None: all of it)."""
        await self._call(settle, job_id, prompt_id, generation, cost)

    async def get_ledger(self, job_id: str) -> Ledger | None:
        """The job's ledger, None if it never reserved."""
        return await self._call(ledger_of, job_id)
