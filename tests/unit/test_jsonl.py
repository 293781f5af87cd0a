"""The streaming JSONL validator: verdicts per line, chunking-independent, memory-bounded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptforge.core.jsonl import LineError, LineSplitter, ValidPrompt, read_prompts


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _verdicts(data: bytes, size: int = 7, max_line_bytes: int = 1_000_000) -> list[object]:
    return [v async for v in read_prompts(_chunks(data, size), max_line_bytes)]


@pytest.mark.anyio
async def test_valid_and_invalid_lines_each_get_one_verdict_with_their_line_number() -> None:
    data = (
        b'{"prompt_id": "a", "prompt": "hello"}\n'
        b"not json\n"
        b"\n"
        b"[1, 2]\n"
        b'{"prompt": "no id"}\n'
        b'{"prompt_id": 7, "prompt": "x"}\n'
        b'{"prompt_id": "b"}\n'
        b'{"prompt_id": "c", "prompt": "   "}\n'
        b'{"prompt_id": "d", "prompt": "caf\xc3\xa9"}\n'
        b'{"prompt_id": "e", "prompt": "\xff\xfe"}\n'
        b"null\n"
        b'{"prompt_id": "f", "prompt": "last, no newline"}'
    )
    verdicts = await _verdicts(data)
    summary = [
        (v.line, v.code if isinstance(v, LineError) else "ok")  # type: ignore[attr-defined]
        for v in verdicts
    ]
    assert summary == [
        (1, "ok"),
        (2, "invalid_json"),
        (4, "not_an_object"),
        (5, "missing_prompt_id"),
        (6, "invalid_prompt_id"),
        (7, "missing_prompt"),
        (8, "empty_prompt"),
        (9, "ok"),
        (10, "invalid_utf8"),
        (11, "not_an_object"),
        (12, "ok"),
    ]
    assert verdicts[7] == ValidPrompt(9, "d", "café")


@pytest.mark.anyio
async def test_bom_and_crlf_are_tolerated() -> None:
    data = b'\xef\xbb\xbf{"prompt_id": "a", "prompt": "x"}\r\n{"prompt_id": "b", "prompt": "y"}\r\n'
    assert await _verdicts(data, size=1) == [ValidPrompt(1, "a", "x"), ValidPrompt(2, "b", "y")]


@pytest.mark.anyio
async def test_a_line_over_the_limit_is_refused_without_being_buffered() -> None:
    long_prompt = "x" * 5000
    data = (
        json.dumps({"prompt_id": "big", "prompt": long_prompt}).encode()
        + b"\n"
        + b'{"prompt_id": "ok", "prompt": "fine"}\n'
    )
    splitter = LineSplitter(max_bytes=2048)
    peak = 0
    for start in range(0, len(data), 100):
        for _ in splitter.feed(data[start : start + 100]):
            pass
        peak = max(peak, len(splitter._buffer))
    assert peak <= 2048
    verdicts = await _verdicts(data, size=100, max_line_bytes=2048)
    assert isinstance(verdicts[0], LineError) and verdicts[0].code == "line_too_long"
    assert "2,048" in verdicts[0].message
    assert verdicts[1] == ValidPrompt(2, "ok", "fine")


@pytest.mark.anyio
async def test_error_records_carry_line_code_and_message() -> None:
    (verdict,) = await _verdicts(b'{"prompt_id": "a"}\n')
    assert isinstance(verdict, LineError)
    assert verdict.record() == {
        "prompt_id": "a",
        "line": 1,
        "error": {
            "code": "missing_prompt",
            "message": 'line has no "prompt" (or "messages") field',
        },
    }


lines_strategy = st.lists(
    st.one_of(
        st.builds(
            lambda i, p: json.dumps({"prompt_id": i, "prompt": p}),
            st.text(min_size=1, max_size=10).filter(str.strip),
            st.text(min_size=1, max_size=30).filter(str.strip),
        ),
        st.text(max_size=20),
        st.just(""),
    ),
    max_size=30,
)


@given(lines=lines_strategy, size=st.integers(min_value=1, max_value=64))
def test_any_chunking_gives_the_same_verdicts(lines: list[str], size: int) -> None:
    import anyio

    data = "\n".join(lines).encode("utf-8")
    whole = anyio.run(_verdicts, data, len(data) + 1)
    chunked = anyio.run(_verdicts, data, size)
    assert chunked == whole
    non_blank = [n for n, text in enumerate("\n".join(lines).split("\n"), 1) if text.strip()]
    assert [v.line for v in whole] == non_blank  # type: ignore[attr-defined]
