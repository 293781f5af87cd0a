"""Group commit for the SQLite job store: calls that queue up meanwhile share one transaction.

Every call is a function of the connection, run on the store's single database
thread. While one batch runs there, new calls wait on the event loop; when it ends,
all of them go to the thread as the next batch: one hop to the thread and back, one
``BEGIN IMMEDIATE`` … ``COMMIT`` for the lot, each call inside its own savepoint so
that one call's error undoes that call only. A call returns (or raises) only after
the commit that holds it, so "returned" still means "durable" and a failed commit
fails every call of its batch. Under light load a batch is one call, run as before;
under load (hundreds of workers) batches grow and the per-call cost of a transaction
and a thread round trip shrinks accordingly.

State lives on the event loop's thread only (the queue, the in-flight flag), so no
lock is needed; the thread sees nothing but the list of calls it was handed.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, Concatenate, ParamSpec, TypeVar

_P = ParamSpec("_P")
_T = TypeVar("_T")

Op = Callable[[sqlite3.Connection], Any]
_Outcome = tuple[bool, Any]  # (succeeded, value or exception)


class BatchRunner:
    """Runs connection calls on ``executor``'s one thread, batched into shared transactions."""

    def __init__(self, executor: Executor, connection: Callable[[], sqlite3.Connection]) -> None:
        self._executor = executor
        self._connection = connection
        self._queued: list[tuple[Op, asyncio.Future[Any]]] = []
        self._running = False

    async def call(self, op: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``op(connection)`` in the next batch; its result once that batch is committed."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[_T] = loop.create_future()
        self._queued.append((op, waiter))
        if not self._running:
            self._submit(loop)
        return await waiter

    async def settle(self) -> None:
        """Wait until every call queued so far has finished."""
        if self._running or self._queued:
            await self.call(_nothing)

    def _submit(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._queued = self._queued, []
        self._running = True
        try:
            running = loop.run_in_executor(self._executor, self._run, [op for op, _ in batch])
        except BaseException as exc:  # the executor is shut down
            self._running = False
            _fail(batch, exc)
            return
        running.add_done_callback(lambda done: self._finished(loop, batch, done))

    def _finished(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[tuple[Op, asyncio.Future[Any]]],
        done: asyncio.Future[list[_Outcome]],
    ) -> None:
        self._running = False
        error = RuntimeError("database batch cancelled") if done.cancelled() else done.exception()
        if error is not None:
            _fail(batch, error)
        else:
            for (_, waiter), (ok, value) in zip(batch, done.result(), strict=True):
                if waiter.done():  # the caller was cancelled; its call ran anyway
                    continue
                if ok:
                    waiter.set_result(value)
                else:
                    waiter.set_exception(value)
        if self._queued:
            self._submit(loop)

    def _run(self, ops: list[Op]) -> list[_Outcome]:
        """On the database thread: one call as is, several in one transaction."""
        conn = self._connection()
        if len(ops) == 1:
            return [_attempt(conn, ops[0])]
        conn.execute("BEGIN IMMEDIATE")
        try:
            outcomes = [_in_savepoint(conn, op) for op in ops]
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return outcomes


def _attempt(conn: sqlite3.Connection, op: Op) -> _Outcome:
    try:
        return True, op(conn)
    except Exception as exc:
        return False, exc


def _in_savepoint(conn: sqlite3.Connection, op: Op) -> _Outcome:
    conn.execute("SAVEPOINT call")
    outcome = _attempt(conn, op)
    if not outcome[0]:
        if not conn.in_transaction:  # SQLite rolled the whole batch back (I/O error, full disk)
            raise outcome[1]
        conn.execute("ROLLBACK TO call")
    conn.execute("RELEASE call")
    return outcome


def _fail(batch: list[tuple[Op, asyncio.Future[Any]]], error: BaseException) -> None:
    for _, waiter in batch:
        if not waiter.done():
            waiter.set_exception(error)


def _nothing(conn: sqlite3.Connection) -> None:
    return None


class SqliteCalls:
    """What every part of the SQLite job store shares: ``_call``, on its batches.

    ``SqliteJobStore`` sets ``_batches`` when it opens; its parts (prompts, the cost
    ledger, request keys) inherit this and run their functions the same way.
    """

    _batches: BatchRunner | None

    async def _call(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, _P], _T],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> _T:
        """Run ``fn(connection, ...)`` on the database thread, in the next batch."""
        if self._batches is None:
            raise RuntimeError("SqliteJobStore is not open")
        return await self._batches.call(lambda conn: fn(conn, *args, **kwargs))
