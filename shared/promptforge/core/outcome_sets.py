"""Outcomes stored many to a record: the one codec, size-bounded sets, and line order.

A chunk publishes each checkpoint's outcomes in one write (``core.chunk_records``): the
outcomes of one kind go into one *outcome set*, a record of at most ``SET_BYTES`` (a
Firestore document holds 1 MiB; one outcome is at most ``core.outcomes.MAX_OUTCOME_BYTES``,
so it always fits alone). Every reader of a stored outcome decodes it here,
``outcome_from_fields``, whether it was stored alone (an item document) or in a set.

Sets are read ordered by their first line; their outcomes are not contiguous (a chunk's
prompts interleave with other queues' chunks, a retried prompt lands in a later set), so
``in_line_order`` merges them: an outcome is released once every set that could still
hold an earlier line has been read. It holds in memory the outcomes of the sets whose
lines overlap the position being written — about the prompts in flight at once.

A set's lines span fewer than ``SET_SPAN_LINES``: the outcomes of lines ``[start, end)``
(one part of a fanned-out finalize) are all in the sets whose first line is in
``[start - SET_SPAN_LINES + 1, end)``, so a part reads those and no more (``in_range``).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promptforge.core.models import Outcome, OutcomeKind
from promptforge.jobstore.fields import dumps

__all__ = [
    "SET_BYTES",
    "SET_SPAN_LINES",
    "OutcomeSet",
    "decode_set",
    "encode_set",
    "in_line_order",
    "in_range",
    "merge_line_ordered",
    "outcome_fields",
    "outcome_from_fields",
    "outcome_sets",
    "sets_from",
]

SET_BYTES = 960_000
"""The most bytes of encoded outcomes one set holds: under Firestore's 1 MiB per document
with room for the set's other fields (an outcome alone is at most 900,000 bytes of record)."""


def outcome_fields(outcome: Outcome) -> dict[str, Any]:
    """The stored fields of one outcome (its record as JSON text: any JSON value survives)."""
    return {
        "key": outcome.key,
        "kind": OutcomeKind(outcome.kind).value,
        "line": outcome.line,
        "record": dumps(outcome.record),
        "input_tokens": outcome.input_tokens,
        "output_tokens": outcome.output_tokens,
        "schema_retries": outcome.schema_retries,
    }


def outcome_from_fields(data: Mapping[str, Any]) -> Outcome:
    """The outcome stored as ``outcome_fields`` wrote it: the one decoder of stored outcomes."""
    return Outcome(
        str(data["key"]),
        OutcomeKind(data["kind"]),
        int(data["line"]),
        json.loads(data["record"]),
        int(data["input_tokens"]),
        int(data["output_tokens"]),
        int(data.get("schema_retries", 0)),
    )


@dataclass(frozen=True)
class OutcomeSet:
    """Outcomes of one kind stored as one record, in (line, key) order."""

    kind: OutcomeKind
    outcomes: tuple[Outcome, ...]

    @property
    def first_line(self) -> int:
        """The lowest line in the set: the order sets are read in."""
        return self.outcomes[0].line

    @property
    def keys(self) -> list[str]:
        """The outcome keys it holds (so one outcome can be found by key)."""
        return [outcome.key for outcome in self.outcomes]


def encode_set(outcome_set: OutcomeSet) -> list[dict[str, Any]]:
    """The set's outcomes as stored: a list of ``outcome_fields`` (each record one string,
    so a record is stored in its own bytes, not escaped inside another JSON text)."""
    return [outcome_fields(outcome) for outcome in outcome_set.outcomes]


def decode_set(stored: Iterable[Mapping[str, Any]]) -> list[Outcome]:
    """The outcomes ``encode_set`` wrote."""
    return [outcome_from_fields(fields) for fields in stored]


SET_SPAN_LINES = 1000
"""A set's last line is less than its first line plus this (``DEFAULT_SLICE_LINES``: a
chunk made at ingest never spans more, so only a handed-on chunk's sets are ever split)."""


def sets_from(start: int) -> int:
    """The lowest first line of a set that can hold an outcome of line ``start`` or later."""
    return max(1, start - SET_SPAN_LINES + 1)


def outcome_sets(
    outcomes: Iterable[Outcome], max_bytes: int = SET_BYTES, max_span: int = SET_SPAN_LINES
) -> list[OutcomeSet]:
    """The outcomes grouped by kind into sets of at most ``max_bytes`` encoded and lines
    spanning fewer than ``max_span``, each in (line, key) order; a set per kind, more only
    when the bytes or the span require it."""
    by_kind: dict[OutcomeKind, list[Outcome]] = {}
    for outcome in sorted(outcomes, key=lambda o: (o.line, o.key)):
        by_kind.setdefault(OutcomeKind(outcome.kind), []).append(outcome)
    sets: list[OutcomeSet] = []
    for kind, members in by_kind.items():
        current: list[Outcome] = []
        size = 0
        for outcome in members:
            weight = _encoded_size(outcome)  # its key is stored twice: in the set, in ``keys``
            wide = current and outcome.line - current[0].line >= max_span
            if current and (size + weight > max_bytes or wide):
                sets.append(OutcomeSet(kind, tuple(current)))
                current, size = [], 0
            current.append(outcome)
            size += weight
        if current:
            sets.append(OutcomeSet(kind, tuple(current)))
    return sets


async def in_line_order(sets: AsyncIterable[OutcomeSet]) -> AsyncIterator[Outcome]:
    """The outcomes of ``sets`` (given by ascending ``first_line``) in (line, key) order."""
    heap: list[tuple[int, str, int, Outcome]] = []
    serial = 0  # ties never compare outcomes
    async for outcome_set in sets:
        while heap and (heap[0][0], heap[0][1]) < (outcome_set.first_line, ""):
            yield heapq.heappop(heap)[3]
        for outcome in outcome_set.outcomes:
            heapq.heappush(heap, (outcome.line, outcome.key, serial, outcome))
            serial += 1
    while heap:
        yield heapq.heappop(heap)[3]


async def in_range(
    outcomes: AsyncIterable[Outcome], start: int, end: int | None
) -> AsyncIterator[Outcome]:
    """The outcomes (in line order) of lines ``[start, end)``; stops at the first past ``end``."""
    async for outcome in outcomes:
        if end is not None and outcome.line >= end:
            return
        if outcome.line >= start:
            yield outcome


async def merge_line_ordered(*streams: AsyncIterable[Outcome]) -> AsyncIterator[Outcome]:
    """Streams each in (line, key) order merged into one (outcomes stored alone and in sets)."""
    iterators = [aiter(stream) for stream in streams]
    heap: list[tuple[int, str, int, Outcome]] = []
    for index in range(len(iterators)):
        await _push_next(heap, iterators, index)
    while heap:
        *_, index, outcome = heapq.heappop(heap)
        yield outcome
        await _push_next(heap, iterators, index)


async def _push_next(
    heap: list[tuple[int, str, int, Outcome]],
    iterators: Sequence[AsyncIterator[Outcome]],
    index: int,
) -> None:
    try:
        outcome = await anext(iterators[index])
    except StopAsyncIteration:
        return
    heapq.heappush(heap, (outcome.line, outcome.key, index, outcome))


_FIELD_OVERHEAD = 160
"""Bytes a stored outcome takes besides its record and key: field names, numbers, kind."""


def _encoded_size(outcome: Outcome) -> int:
    """About the bytes the outcome takes in a stored set (Firestore counts a string's UTF-8
    bytes plus one, each field name's bytes, eight per number)."""
    record = outcome_fields(outcome)["record"]
    return len(record.encode()) + 2 * len(outcome.key.encode()) + _FIELD_OVERHEAD
