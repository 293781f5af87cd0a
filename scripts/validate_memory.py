"""Validate N generated lines with ``core.validate`` and print the time and peak memory.

    .venv/bin/python scripts/validate_memory.py 1000000

Peak RSS stays flat as N grows (ids past 100,000 go to a temporary file).
"""

from __future__ import annotations

import resource
import sys
import time

from promptforge.core.validate import Validator
from promptforge.providers.catalogue import Catalogue


def main(lines: int) -> str:
    """Feed ``lines`` distinct prompt lines in 64 KiB chunks; the figures."""
    validator = Validator(Catalogue.load(None), "openai", "gpt-4o-mini")
    started = time.perf_counter()
    chunk = bytearray()
    for i in range(lines):
        chunk += b'{"prompt_id": "p%08d", "prompt": "Summarise item %d in one line."}\n' % (i, i)
        if len(chunk) >= 65536:
            validator.feed(bytes(chunk))
            chunk.clear()
    validator.feed(bytes(chunk))
    report = validator.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (
        f"{lines:,} lines in {time.perf_counter() - started:.1f} s: valid={report.valid}, "
        f"prompt_count={report.prompt_count:,}, peak RSS {peak:.0f} MiB"
    )


if __name__ == "__main__":
    sys.stdout.write(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000) + "\n")
