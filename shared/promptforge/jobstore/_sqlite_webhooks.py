"""The SQLite job store's webhook deliveries: one row per (job, webhook_id), run on its thread.

Times are integer microseconds like every other column (``_sqlite_schema``); an update
is a compare-and-set on ``attempts`` and ``state``, so two deliveries of one attempt's
task cannot both record it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from promptforge.core.models import DeliveryState, WebhookDelivery
from promptforge.jobstore._sqlite_schema import from_micros, to_micros, transaction

COLUMNS = (
    "job_id",
    "webhook_id",
    "event_type",
    "body",
    "created_at",
    "attempts",
    "state",
    "next_attempt_at",
    "last_status",
    "last_error",
    "ended_at",
)
_TIMES = frozenset({"created_at", "next_attempt_at", "ended_at"})
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM webhook_deliveries WHERE job_id = ? AND webhook_id = ?"  # noqa: S608 (fixed names)
_MUTABLE = COLUMNS[5:]  # attempts … ended_at: what an attempt changes


def add(conn: sqlite3.Connection, delivery: WebhookDelivery) -> WebhookDelivery:
    """Insert unless present; the stored record."""
    row = _encode(delivery)
    marks = ", ".join("?" * len(COLUMNS))
    sql = f"INSERT OR IGNORE INTO webhook_deliveries ({', '.join(COLUMNS)}) VALUES ({marks})"  # noqa: S608
    with transaction(conn):
        conn.execute(sql, row)
        stored = get(conn, delivery.job_id, delivery.webhook_id)
    if stored is None:  # pragma: no cover - inserted or present, in one transaction
        raise RuntimeError("webhook delivery vanished inside its transaction")
    return stored


def get(conn: sqlite3.Connection, job_id: str, webhook_id: str) -> WebhookDelivery | None:
    """The stored delivery, or None."""
    row = conn.execute(_SELECT, (job_id, webhook_id)).fetchone()
    return None if row is None else _decode(row)


def update(conn: sqlite3.Connection, delivery: WebhookDelivery, expected_attempts: int) -> bool:
    """Replace what an attempt changes, if the row is PENDING at ``expected_attempts``."""
    values = dict(zip(COLUMNS, _encode(delivery), strict=True))
    assignments = ", ".join(f"{name} = ?" for name in _MUTABLE)
    sql = (
        f"UPDATE webhook_deliveries SET {assignments} "  # noqa: S608 (fixed names)
        "WHERE job_id = ? AND webhook_id = ? AND attempts = ? AND state = ?"
    )
    params = (
        *(values[name] for name in _MUTABLE),
        delivery.job_id,
        delivery.webhook_id,
        expected_attempts,
        DeliveryState.PENDING.value,
    )
    return conn.execute(sql, params).rowcount == 1


def _encode(delivery: WebhookDelivery) -> tuple[Any, ...]:
    values: list[Any] = []
    for name in COLUMNS:
        value = getattr(delivery, name)
        if name in _TIMES and value is not None:
            value = to_micros(value)
        elif name == "state":
            value = DeliveryState(value).value
        values.append(value)
    return tuple(values)


def _decode(row: tuple[Any, ...]) -> WebhookDelivery:
    values: dict[str, Any] = dict(zip(COLUMNS, row, strict=True))
    for name in _TIMES:
        moment: int | None = values[name]
        values[name] = None if moment is None else from_micros(moment)
    values["state"] = DeliveryState(values["state"])
    return WebhookDelivery(**values)
