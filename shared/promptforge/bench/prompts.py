"""Benchmark input: JSONL files of realistic prompts, by prompt count or by size.

The prompts are the shipped example prompts (short instructions, proofreading,
summaries of a paragraph) and, for about a third of the lines, a longer "document"
made of several of them, so line lengths vary from a few dozen bytes to a few
kilobytes like a real batch. Generation is seeded: the same arguments give the same
file. Every ``prompt_id`` is unique and every prompt text differs (a numbered
prefix), so a provider-side cache or dedupe cannot flatter the figures.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from promptforge.data import read_text

DOCUMENT_SHARE = 0.3
"""Share of lines whose prompt is a multi-paragraph document rather than one instruction."""

MAX_DOCUMENT_PARTS = 8
"""A document prompt joins between two and this many example prompts."""

_WRITE_BUFFER = 1 << 20


@dataclass(frozen=True)
class PromptFile:
    """A generated JSONL file: where it is, how many lines and bytes it holds."""

    path: Path
    lines: int
    bytes: int

    @property
    def megabytes(self) -> float:
        """Size in MB (10**6 bytes, as throughput is quoted)."""
        return self.bytes / 1e6


EXAMPLE_PROMPTS = "example_prompts.jsonl"
"""The shipped demo and benchmark prompts (``promptforge/data``), one JSON object a line.

Named here, in a dev tool, and not in ``promptforge.data``: a function package ships the
data files its modules name, and no function needs these prompts.
"""


def example_prompt_lines(count: int | None = None) -> list[str]:
    """The non-blank JSONL lines of the example prompts, the first ``count`` if given."""
    lines = [line for line in read_text(EXAMPLE_PROMPTS).splitlines() if line.strip()]
    return lines if count is None else lines[:count]


def example_prompts() -> list[str]:
    """The prompt texts of the shipped example file."""
    return [str(json.loads(line)["prompt"]) for line in example_prompt_lines()]


def prompt_lines(
    seed: int = 0, prefix: str = "b", *, document_share: float = DOCUMENT_SHARE
) -> Iterator[bytes]:
    """An endless stream of JSONL lines (newline included), prompt ids ``<prefix>0000001``…

    ``document_share`` is the share of multi-paragraph documents; 0 gives only the
    single example prompts (about 275 bytes a line).
    """
    if not 0.0 <= document_share <= 1.0:
        raise ValueError(f"document_share must be between 0 and 1, got {document_share}")
    pool = example_prompts()
    rng = random.Random(seed)
    number = 0
    while True:
        number += 1
        if rng.random() < document_share:
            parts = rng.sample(pool, rng.randint(2, MAX_DOCUMENT_PARTS))
            body = "Answer each request in order, one paragraph each.\n\n" + "\n\n".join(parts)
        else:
            body = rng.choice(pool)
        row = {"prompt_id": f"{prefix}{number:07d}", "prompt": f"[{number}] {body}"}
        yield (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")


def write_prompt_file(
    path: Path,
    *,
    prompts: int | None = None,
    min_bytes: int | None = None,
    seed: int = 0,
    document_share: float = DOCUMENT_SHARE,
) -> PromptFile:
    """Write ``prompts`` lines, or lines until the file holds at least ``min_bytes``.

    Exactly one of the two must be given; ``document_share`` as for ``prompt_lines``.
    """
    if (prompts is None) == (min_bytes is None):
        raise ValueError("give exactly one of prompts= or min_bytes=")
    if prompts is not None and prompts < 1:
        raise ValueError(f"prompts must be at least 1, got {prompts}")
    if min_bytes is not None and min_bytes < 1:
        raise ValueError(f"min_bytes must be at least 1, got {min_bytes}")
    lines = size = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb", buffering=_WRITE_BUFFER) as out:
        for line in prompt_lines(seed, document_share=document_share):
            out.write(line)
            lines += 1
            size += len(line)
            if lines == prompts or (min_bytes is not None and size >= min_bytes):
                break
    return PromptFile(path, lines, size)
