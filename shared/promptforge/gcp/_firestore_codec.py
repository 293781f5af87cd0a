"""The Firestore job store's document format: ids, times, and the job document codec.

Document ids: Firestore refuses ``/`` in an id, the ids ``.`` and ``..``, ids matching
``__.*__`` and ids over 1,500 bytes, and writes to lexicographically close ids land on
the same tablet. Ids we mint or that are already random (job ids, key hashes, rate keys)
are percent-encoded (:func:`safe_id`, injective and readable in the console); ids users
choose and often number sequentially (``prompt_id``) are hashed (:func:`hashed_id`).

Times are Firestore timestamps (microsecond precision, like the SQLite store) and read
back as plain timezone-aware UTC datetimes; naive datetimes are refused. Structured
fields the store never queries (generation params, outcome records, rate state) are
compact JSON strings: JSON round-trips exactly where Firestore maps would not (arrays of
arrays, integers past int64), and one string is one cheap index entry.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from promptforge.core.models import GenerationParams, Job, JobError, JobStatus
from promptforge.jobstore.fields import (
    COUNTER_FIELDS,
    DATETIME_FIELDS,
    JOB_FIELDS,
    TRANSITION_FIELDS,
    dumps,
    plain_field,
)

MAX_ID_BYTES = 1500
"""Firestore's limit on a document id."""

_ID_SAFE_CHARS = "-_.~!$&'()*+,;=:@"


def safe_id(text: str) -> str:
    """``text`` as a valid document id: percent-encoded, so distinct texts stay distinct."""
    if not text:
        raise ValueError("a Firestore document id cannot be empty")
    encoded = quote(text, safe=_ID_SAFE_CHARS)
    if encoded in {".", ".."} or (encoded.startswith("__") and encoded.endswith("__")):
        encoded = f"%{ord(encoded[0]):02X}{encoded[1:]}"  # still decodes to ``text``
    if len(encoded.encode()) > MAX_ID_BYTES:
        raise ValueError(f"id too long for a Firestore document: {text[:40]!r}…")
    return encoded


def hashed_id(text: str) -> str:
    """A fixed-length, evenly spread document id for ``text`` (SHA-256, hex)."""
    return hashlib.sha256(text.encode()).hexdigest()


def from_timestamp(value: datetime) -> datetime:
    """A Firestore timestamp as a plain ``datetime`` in UTC."""
    moment = value.astimezone(UTC)
    return datetime(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
        tzinfo=UTC,
    )


def encode_field(name: str, value: Any) -> Any:
    """One ``Job`` field as its document value (``params`` as JSON text, the rest as is)."""
    checked = plain_field(name, value)
    return dumps(checked) if name == "params" else checked


def encode_job(job: Job) -> dict[str, Any]:
    """The job document: every field, its counters as the base the shards add to."""
    return {name: encode_field(name, getattr(job, name)) for name in JOB_FIELDS}


def encode_transition(target: JobStatus, changes: dict[str, Any]) -> dict[str, Any]:
    """The update a transition writes; ValueError for a field it may not set."""
    values: dict[str, Any] = {"status": target.value}
    for name, value in changes.items():
        if name not in TRANSITION_FIELDS:
            raise ValueError(f"transition cannot set job field {name!r}")
        values[name] = encode_field(name, value)
    return values


def decode_job(data: dict[str, Any], counters: dict[str, int]) -> Job:
    """A ``Job`` from its document plus the summed counter shards."""
    values: dict[str, Any] = {name: data.get(name) for name in JOB_FIELDS}
    for name in DATETIME_FIELDS:
        if values[name] is not None:
            values[name] = from_timestamp(values[name])
    values["status"] = JobStatus(values["status"])
    values["params"] = GenerationParams.from_dict(json.loads(values["params"]))
    values["result_files"] = tuple(values["result_files"] or ())
    values["ingest_done"] = bool(values["ingest_done"])
    values["dedupe"] = bool(values["dedupe"])
    values["metadata"] = dict(values["metadata"] or {})
    if values["error"] is not None:
        values["error"] = JobError(**values["error"])
    for name in COUNTER_FIELDS:
        values[name] = int(values[name] or 0) + counters.get(name, 0)
    return Job(**values)
