"""Properties of the JSONL reader over arbitrary bytes: every line accounted for exactly once.

An independent oracle splits the bytes into physical lines the way the format says
(newline-separated; a trailing CR and a first-line BOM dropped; no line after a final
newline) and predicts, for each, whether it is skipped (blank), refused for its length or
its encoding, or judged; the reader must agree line for line, whatever the chunking.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Iterable

import anyio
from hypothesis import example, given, settings
from hypothesis import strategies as st

from promptforge.core.jsonl import (
    LineError,
    LineSplitter,
    ValidPrompt,
    Verdict,
    read_prompts,
    validate_line,
)

MAX = 128  # a small line limit, so that generated data crosses it often
CODES = frozenset(
    {
        "invalid_json",
        "invalid_utf8",
        "not_an_object",
        "missing_prompt_id",
        "invalid_prompt_id",
        "missing_prompt",
        "invalid_prompt",
        "empty_prompt",
        "line_too_long",
    }
)

_texts = st.one_of(
    st.text(max_size=12),
    st.text(st.characters(categories=("Cs", "Ll", "Zs")), max_size=4),  # lone surrogates too
)
_json_line = st.builds(
    lambda pid, prompt, extra: json.dumps({"prompt_id": pid, "prompt": prompt, **extra}),
    st.one_of(_texts, st.integers(), st.none()),
    st.one_of(_texts, st.integers(), st.none(), st.lists(st.text(max_size=2))),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
).map(str.encode)
_junk = st.sampled_from(
    [
        b"",
        b"\r",
        b"\xef\xbb\xbf",
        b"   ",
        b"[",
        b"{",
        b'"\\ud800"',
        b"\xff",
        b"\xe2\x82",
        b"x" * (MAX + 1),
        b'{"prompt_id": "a", "prompt": "b"}',
    ]
)
_line = st.one_of(_json_line, _junk, st.binary(max_size=24))
_lines = st.builds(
    lambda lines, ends, final: b"".join(line + ends[i % len(ends)] for i, line in enumerate(lines))[
        : None if final else -1
    ],
    st.lists(_line, max_size=12),
    st.lists(st.sampled_from([b"\n", b"\r\n"]), min_size=1, max_size=3),
    st.booleans(),
)
# Whole lines most of the time; sometimes bytes glued together with no regard for lines.
hostile_bytes = st.one_of(_lines, st.lists(_line, max_size=12).map(b"".join))


def _split_points(data: bytes) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, len(data)), max_size=12).map(sorted)


def _chunks(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def _verdicts(chunks: list[bytes]) -> list[Verdict]:
    """The sans-I/O path: feed every chunk, close, judge every line."""
    splitter = LineSplitter(MAX)
    raws = [raw for chunk in chunks for raw in splitter.feed(chunk)]
    raws += list(splitter.close())
    return [v for raw in raws if (v := validate_line(raw, MAX)) is not None]


def _async_verdicts(chunks: list[bytes]) -> list[Verdict]:
    """The async glue the ingest uses, over the same chunks."""

    async def stream() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async def collect() -> list[Verdict]:
        return [v async for v in read_prompts(stream(), MAX)]

    return anyio.run(collect)


def _oracle(data: bytes) -> list[tuple[int, str | None]]:
    """(line, expected code or None for "judged on content") for every non-blank line."""
    pieces = data.split(b"\n")
    if data.endswith(b"\n") or not data:
        pieces.pop()
    expected: list[tuple[int, str | None]] = []
    for number, piece in enumerate(pieces, 1):
        if len(piece) > MAX:  # the limit counts the bytes before the line end
            expected.append((number, "line_too_long"))
            continue
        line = piece.removesuffix(b"\r")
        if number == 1:
            line = line.removeprefix(b"\xef\xbb\xbf")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            expected.append((number, "invalid_utf8"))
            continue
        if text.strip():
            expected.append((number, None))
    return expected


@settings(max_examples=400, deadline=None)
@given(data=st.data(), raw=hostile_bytes)
@example(data=None, raw=b"\xef\xbb\xbf\r\n")
@example(data=None, raw=b"\n" + b"x" * (MAX + 1) + b"\r\n")
def test_every_line_is_accounted_for_exactly_once(data: st.DataObject | None, raw: bytes) -> None:
    cuts = data.draw(_split_points(raw)) if data is not None else []
    verdicts = _verdicts(_chunks(raw, cuts))
    expected = _oracle(raw)
    assert [v.line for v in verdicts] == [line for line, _ in expected]
    for verdict, (_, code) in zip(verdicts, expected, strict=True):
        if isinstance(verdict, LineError):
            assert verdict.code in CODES and verdict.message
            assert code is None or verdict.code == code
            assert verdict.prompt_id is None or verdict.prompt_id.encode("utf-8")
        else:
            assert code is None
            assert isinstance(verdict, ValidPrompt) and verdict.prompt.strip()
            assert verdict.prompt_id.strip() and len(verdict.prompt_id) <= 256
            verdict.prompt_id.encode("utf-8")  # never a lone surrogate: storable as text
            verdict.prompt.encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(data=st.data(), raw=hostile_bytes)
def test_any_split_into_chunks_gives_identical_verdicts(data: st.DataObject, raw: bytes) -> None:
    whole = _verdicts([raw])
    cuts = data.draw(_split_points(raw))
    assert _verdicts(_chunks(raw, cuts)) == whole
    assert _async_verdicts(_chunks(raw, cuts)) == whole


@settings(max_examples=200, deadline=None)
@given(
    pid=st.text(min_size=1, max_size=256).filter(str.strip),
    prompt=st.text(min_size=1, max_size=200).filter(str.strip),
    ascii_only=st.booleans(),
)
def test_a_well_formed_line_round_trips(pid: str, prompt: str, ascii_only: bool) -> None:
    line = json.dumps({"prompt_id": pid, "prompt": prompt}, ensure_ascii=ascii_only)
    raws = list(LineSplitter().feed(line.encode("utf-8", "surrogatepass") + b"\n"))
    (verdict,) = [validate_line(raw) for raw in raws]
    encodable = all(not 0xD800 <= ord(c) <= 0xDFFF for c in pid + prompt)
    if encodable:
        assert verdict == ValidPrompt(1, pid, prompt)
    else:  # a lone surrogate: escaped it is refused by name, raw it is not UTF-8
        assert isinstance(verdict, LineError)
        assert verdict.code in {"invalid_prompt_id", "invalid_prompt", "invalid_utf8"}


def test_json_that_no_parser_stack_survives_is_an_error_not_a_crash() -> None:
    deep = b"[" * 50_000 + b"]" * 50_000
    digits = b'{"prompt_id": "a", "prompt": "b", "n": ' + b"9" * 5000 + b"}"
    surrogate = b'{"prompt_id": "a", "prompt": "\\udc00"}'
    verdicts = [
        validate_line(raw, 1_000_000)
        for raw in LineSplitter(1_000_000).feed(deep + b"\n" + digits + b"\n" + surrogate + b"\n")
    ]
    assert [(v.line, v.code) for v in verdicts if isinstance(v, LineError)] == [
        (1, "invalid_json"),
        (2, "invalid_json"),
        (3, "invalid_prompt"),
    ]
