"""Validate a prompts file before paying for it: the verdicts ingest would give, creating nothing.

``Validator`` is sans-I/O: feed it the bytes of a JSONL file, close it, read the
report. Each line is judged by ``core/jsonl.py`` (the rule ingest applies, in one
place), duplicates of a ``prompt_id`` as ingest records them (``duplicate_error``),
and the provider and model as init checks them (``service.check_model``).

Memory is bounded: one line at a time, the first ``MAX_REPORTED_ERRORS`` errors (the
rest are counted), and the ``prompt_id`` values seen so far, which move from a dict to
a temporary SQLite file on disk (deleted when closed) past ``SPILL_AFTER`` of them.
``validate_stream`` runs the parsing on a worker thread, chunk by chunk, so a large
file never stalls the event loop that serves other requests.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable

import anyio
from pydantic import BaseModel, Field

from promptforge.core.estimate import CostEstimate, Estimator
from promptforge.core.jsonl import (
    EMPTY_FILE,
    MAX_LINE_BYTES,
    LineError,
    LineSplitter,
    RawLine,
    ValidPrompt,
    Verdict,
    duplicate_error,
    validate_line,
)
from promptforge.core.service import check_model
from promptforge.errors import ApiError
from promptforge.providers.catalogue import Catalogue

MAX_REPORTED_ERRORS = 1000
"""Errors listed in a report; ``error_count`` counts every one."""

SPILL_AFTER = 100_000
"""``prompt_id`` values kept in memory before the rest go to a temporary file."""


class ValidationIssue(BaseModel):
    """One problem: a line's, or (``line`` null) the request's provider or model."""

    line: int | None = Field(
        description="1-based line number in the file; null for a problem of the whole request: "
        "the provider or model named in the query, or a file with no line (empty_file)."
    )
    code: str = Field(
        description="Machine-readable: invalid_json, missing_prompt_id, duplicate_prompt_id, "
        "missing_prompt, invalid_messages, line_too_long, unsupported_model, …"
    )
    message: str = Field(description="What is wrong and how to fix it.")


class ValidationReport(BaseModel):
    """The answer of ``POST /v1/jobs/validate``."""

    valid: bool = Field(description="True when the file would run with no error line.")
    prompt_count: int = Field(description="Lines that would become prompts.")
    error_count: int = Field(description="Every problem found (the list stops at 1,000).")
    errors: list[ValidationIssue] = Field(
        description="The problems, in file order (the request's own first), at most 1,000."
    )
    estimate: CostEstimate | None = Field(
        None,
        description="What the valid prompts would cost (null when the model has no price).",
    )


class Validator:
    """Judges a JSONL file fed in chunks; ``close()`` gives the report."""

    def __init__(
        self,
        catalogue: Catalogue,
        provider: str,
        model: str,
        *,
        max_line_bytes: int = MAX_LINE_BYTES,
        spill_after: int = SPILL_AFTER,
        validate: Callable[[RawLine, int], Verdict | None] = validate_line,
        max_tokens: int | None = None,
        system: str | None = None,
    ) -> None:
        self._validate = validate
        self._splitter = LineSplitter(max_line_bytes)
        self._max_line_bytes = max_line_bytes
        self._seen = _SeenIds(spill_after)
        self._errors: list[ValidationIssue] = []
        self._error_count = 0
        self._prompts = 0
        self._lines = 0  # non-blank lines: what a job would count
        info = catalogue.find(provider, model)
        self._estimator = (
            None if info is None else Estimator(info, max_tokens=max_tokens, system=system)
        )
        try:
            check_model(catalogue, provider, model)
        except ApiError as exc:
            self._add(ValidationIssue(line=None, code=exc.code, message=exc.message))

    def feed(self, chunk: bytes) -> None:
        """Judge every line ``chunk`` completes."""
        for raw in self._splitter.feed(chunk):
            self._judge(raw)

    def close(self) -> ValidationReport:
        """Judge the last line, drop the seen ids and report."""
        for raw in self._splitter.close():
            self._judge(raw)
        self._seen.close()
        if self._lines == 0:
            code, message = EMPTY_FILE
            self._add(ValidationIssue(line=None, code=code, message=message))
        return ValidationReport(
            valid=self._error_count == 0,
            prompt_count=self._prompts,
            error_count=self._error_count,
            errors=self._errors,
            estimate=None if self._estimator is None else self._estimator.result(),
        )

    def _judge(self, raw: RawLine) -> None:
        verdict = self._validate(raw, self._max_line_bytes)
        if verdict is not None:
            self._lines += 1
        if isinstance(verdict, ValidPrompt):
            first = self._seen.first_line(verdict.prompt_id, verdict.line)
            if first is None:
                self._prompts += 1
                if self._estimator is not None:
                    self._estimator.add(verdict.prompt)
                return
            verdict = duplicate_error(verdict, first)
        if isinstance(verdict, LineError):
            issue = ValidationIssue(line=verdict.line, code=verdict.code, message=verdict.message)
            self._add(issue)

    def _add(self, issue: ValidationIssue) -> None:
        self._error_count += 1
        if len(self._errors) < MAX_REPORTED_ERRORS:
            self._errors.append(issue)


async def validate_stream(chunks: AsyncIterator[bytes], validator: Validator) -> ValidationReport:
    """Feed a byte stream to ``validator`` off the event loop, then report."""
    try:
        async for chunk in chunks:
            await anyio.to_thread.run_sync(validator.feed, chunk)
    finally:
        report = await anyio.to_thread.run_sync(validator.close)
    return report


class _SeenIds:
    """``prompt_id`` → first line: a dict, then a temporary SQLite file past ``spill_after``."""

    def __init__(self, spill_after: int) -> None:
        self._spill_after = spill_after
        self._memory: dict[str, int] = {}
        self._disk: sqlite3.Connection | None = None

    def first_line(self, prompt_id: str, line: int) -> int | None:
        """None the first time ``prompt_id`` is seen (recorded at ``line``), else its first line."""
        if self._disk is None:
            first = self._memory.setdefault(prompt_id, line)
            if len(self._memory) > self._spill_after:
                self._spill()
            return None if first == line else first
        inserted = self._disk.execute(
            "INSERT OR IGNORE INTO seen (prompt_id, line) VALUES (?, ?)", (prompt_id, line)
        ).rowcount
        if inserted:
            return None
        row = self._disk.execute("SELECT line FROM seen WHERE prompt_id = ?", (prompt_id,))
        return int(row.fetchone()[0])

    def close(self) -> None:
        """Forget every id; the temporary file is deleted with its connection."""
        self._memory.clear()
        if self._disk is not None:
            self._disk.close()
            self._disk = None

    def _spill(self) -> None:
        # "" is a private temporary database on disk, removed when the connection closes.
        disk = sqlite3.connect("", check_same_thread=False, isolation_level=None)
        disk.execute("PRAGMA journal_mode = OFF")
        disk.execute("PRAGMA synchronous = OFF")
        disk.execute("CREATE TABLE seen (prompt_id TEXT PRIMARY KEY, line INTEGER) WITHOUT ROWID")
        disk.executemany("INSERT INTO seen VALUES (?, ?)", self._memory.items())
        self._memory.clear()
        self._disk = disk
