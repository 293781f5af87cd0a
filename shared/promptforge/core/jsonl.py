"""Streaming JSONL validation: bytes in, one verdict per line out, memory bounded by one line.

The reader is sans-I/O: ``LineSplitter`` is fed chunks and yields raw lines;
``validate_line`` turns one raw line into a ``ValidPrompt`` or a ``LineError``.
``read_prompts`` glues both over an async byte stream. A line carries its prompt as
``prompt`` (text) or ``messages`` (a chat, checked by ``core/messages.py``), never both.
Blank lines are skipped
(they are not prompts); every other line becomes exactly one verdict, numbered
from 1 by its physical position in the file.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

from promptforge.core.messages import Prompt, encodable, parse_messages
from promptforge.core.models import LineRoute

MAX_LINE_BYTES = 1_000_000
"""A line longer than this is refused (``line_too_long``) without being buffered whole."""

MAX_PROMPT_ID_CHARS = 256
"""``prompt_id`` values longer than this are refused."""

EMPTY_FILE = ("empty_file", "the uploaded file has no prompts; upload JSONL lines")
"""The code and message of a file with no non-blank line (a job of it ends FAILED)."""

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class ValidPrompt:
    """A line that is a valid prompt: its text, or its chat messages."""

    line: int
    prompt_id: str
    prompt: Prompt
    route: LineRoute | None = None


@dataclass(frozen=True)
class LineError:
    """A line that is not a valid prompt, with a machine-readable code and a message."""

    line: int
    code: str
    message: str
    prompt_id: str | None = None

    def record(self) -> dict[str, object]:
        """The ``errors.jsonl`` line for this error."""
        return {
            "prompt_id": self.prompt_id,
            "line": self.line,
            "error": {"code": self.code, "message": self.message},
        }


Verdict = ValidPrompt | LineError


@dataclass(frozen=True)
class RawLine:
    """One physical line: its number and bytes (without the newline), or ``too_long``."""

    number: int
    data: bytes
    too_long: bool = False


class LineSplitter:
    """Splits a byte stream into lines; a line longer than ``max_bytes`` is dropped, not kept."""

    def __init__(self, max_bytes: int = MAX_LINE_BYTES) -> None:
        self._max = max_bytes
        self._buffer = bytearray()
        self._number = 0
        self._overflow = False

    def feed(self, chunk: bytes) -> Iterator[RawLine]:
        """Consume a chunk; yield every line it completes."""
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                self._append(chunk[start:])
                return
            self._append(chunk[start:end])
            yield self._emit()
            start = end + 1

    def close(self) -> Iterator[RawLine]:
        """Yield the last line if the stream did not end with a newline."""
        if self._buffer or self._overflow:
            yield self._emit()

    def _append(self, piece: bytes) -> None:
        if self._overflow:
            return
        if len(self._buffer) + len(piece) > self._max:
            self._overflow = True
            self._buffer.clear()
            return
        self._buffer += piece

    def _emit(self) -> RawLine:
        self._number += 1
        data = bytes(self._buffer)
        if data.endswith(b"\r"):
            data = data[:-1]
        if self._number == 1 and data.startswith(_BOM):
            data = data[len(_BOM) :]
        line = RawLine(self._number, data, too_long=self._overflow)
        self._buffer.clear()
        self._overflow = False
        return line


def duplicate_error(prompt: ValidPrompt, first_line: int) -> LineError:
    """The error of a valid line whose ``prompt_id`` an earlier line (``first_line``) has."""
    return LineError(
        prompt.line,
        "duplicate_prompt_id",
        f"prompt_id {prompt.prompt_id!r} also appears on line {first_line}; "
        "prompt_id must be unique within a file",
        prompt.prompt_id,
    )


def validate_line(raw: RawLine, max_line_bytes: int = MAX_LINE_BYTES) -> Verdict | None:
    """Judge one line; None for a blank line (skipped)."""
    number = raw.number
    if raw.too_long:
        return LineError(
            number,
            "line_too_long",
            f"line is longer than {max_line_bytes:,} bytes; shorten the prompt",
        )
    try:
        text = raw.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return LineError(
            number,
            "invalid_utf8",
            f"line is not valid UTF-8 (byte {exc.start}); re-encode as UTF-8",
        )
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return LineError(
            number, "invalid_json", f"line is not valid JSON: {exc.msg} at column {exc.colno}"
        )
    except RecursionError:
        return LineError(
            number, "invalid_json", "line is nested too deeply to parse; flatten the object"
        )
    except ValueError:  # the only other one: an integer over Python's 4,300-digit limit
        return LineError(
            number,
            "invalid_json",
            "line has a number too long to read (over 4,300 digits); write it as a string",
        )
    if not isinstance(value, dict):
        kind = _kind(value)
        return LineError(
            number,
            "not_an_object",
            f'line is a JSON {kind}; each line must be an object like {{"prompt_id": "...", '
            '"prompt": "..."}',
        )
    return _validate_fields(number, value)


def _kind(value: object) -> str:
    """The JSON name of a parsed value's type: object, array, string, number, boolean, null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    return "string" if isinstance(value, str) else "object"


def _validate_fields(number: int, value: dict[str, object]) -> Verdict:
    if "prompt_id" not in value:
        return LineError(number, "missing_prompt_id", 'line has no "prompt_id" field')
    prompt_id = value["prompt_id"]
    if not isinstance(prompt_id, str):
        return LineError(
            number,
            "invalid_prompt_id",
            f'"prompt_id" must be a string, got a JSON {_kind(prompt_id)}',
        )
    if not prompt_id.strip() or len(prompt_id) > MAX_PROMPT_ID_CHARS:
        return LineError(
            number,
            "invalid_prompt_id",
            f'"prompt_id" must be a non-blank string of at most {MAX_PROMPT_ID_CHARS} characters',
        )
    if not encodable(prompt_id):
        return LineError(number, "invalid_prompt_id", f'"prompt_id" {_SURROGATE_PROBLEM}')
    verdict = _prompt_of(number, prompt_id, value)
    if "route" not in value or isinstance(verdict, LineError):
        return verdict
    route = _route(value["route"])
    if route is None:
        return LineError(number, "invalid_route", _ROUTE_PROBLEM, prompt_id)
    return ValidPrompt(number, prompt_id, verdict.prompt, route)


_ROUTE_PARAMS = frozenset(
    {"system", "temperature", "max_tokens", "top_p", "stop", "seed", "response_format"}
)
_ROUTE_PROBLEM = (
    '"route" must be {"provider": str, "model": str, "params": {...}} with params among '
    + ", ".join(sorted(_ROUTE_PARAMS))
)


def _route(value: object) -> LineRoute | None:
    """A line's ``route`` (its own provider, model and options), or None if malformed."""
    if not isinstance(value, dict) or set(value) - {"provider", "model", "params"}:
        return None
    provider, model, params = value.get("provider"), value.get("model"), value.get("params", {})
    if not isinstance(provider, str) or not isinstance(model, str) or not model:
        return None
    if not isinstance(params, dict) or set(params) - _ROUTE_PARAMS:
        return None
    return LineRoute(provider, model, params)


def _prompt_of(number: int, prompt_id: str, value: dict[str, object]) -> Verdict:
    """The line's ``prompt`` or ``messages``."""
    if "messages" in value:
        return _chat_line(number, prompt_id, value)
    if "prompt" not in value:
        return LineError(
            number, "missing_prompt", 'line has no "prompt" (or "messages") field', prompt_id
        )
    prompt = value["prompt"]
    if not isinstance(prompt, str):
        return LineError(
            number,
            "invalid_prompt",
            f'"prompt" must be a string, got a JSON {_kind(prompt)}',
            prompt_id,
        )
    if not prompt.strip():
        return LineError(number, "empty_prompt", '"prompt" is empty', prompt_id)
    if not encodable(prompt):
        return LineError(number, "invalid_prompt", f'"prompt" {_SURROGATE_PROBLEM}', prompt_id)
    return ValidPrompt(number, prompt_id, prompt)


def _chat_line(number: int, prompt_id: str, value: dict[str, object]) -> Verdict:
    """A line with ``messages`` (``core/messages.py`` holds the rules), and no ``prompt``."""
    if "prompt" in value:
        return LineError(
            number,
            "prompt_and_messages",
            'line has both "prompt" and "messages"; give one of them',
            prompt_id,
        )
    messages = parse_messages(value["messages"])
    if not isinstance(messages, tuple):
        return LineError(number, messages.code, messages.message, prompt_id)
    return ValidPrompt(number, prompt_id, messages)


_SURROGATE_PROBLEM = (
    "contains an unpaired surrogate escape (\\ud800-\\udfff), which is not text; "
    "escape characters outside the BMP as a surrogate pair or write them as UTF-8"
)


async def read_prompts(
    chunks: AsyncIterator[bytes],
    max_line_bytes: int = MAX_LINE_BYTES,
    validate: Callable[[RawLine, int], Verdict | None] = validate_line,
) -> AsyncIterator[Verdict]:
    """Stream verdicts for every non-blank line of a JSONL byte stream (``validate`` judges
    a line: ``validate_line``, or a prompt version's row reader)."""
    splitter = LineSplitter(max_line_bytes)
    async for chunk in chunks:
        for raw in splitter.feed(chunk):
            verdict = validate(raw, max_line_bytes)
            if verdict is not None:
                yield verdict
    for raw in splitter.close():
        verdict = validate(raw, max_line_bytes)
        if verdict is not None:
            yield verdict
