"""``docs/benchmarks.md``: each benchmark rewrites its own section, the rest stays as it is.

A section is the text between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``;
a benchmark run replaces its section whole (figures, machine, date, how to
reproduce) and appends it the first time. Hand edits belong outside the markers.
"""

from __future__ import annotations

import os
import platform
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_REPORT = Path("docs/benchmarks.md")

HEADER = """# Benchmarks

Figures written by `promptforge bench …` (`make bench` runs them all); each command
rewrites its own section between the `bench:` markers, so do not edit inside them.
Absolute rates depend on the machine (and on what else runs on it); each benchmark
also measures a baseline in the same process and reports the ratio to it, which is
the figure to compare across machines.
"""


@dataclass(frozen=True)
class Machine:
    """Where a benchmark ran."""

    cpu: str
    cores: int
    python: str
    sqlite: str
    system: str

    def describe(self) -> str:
        """One line for the report."""
        return (
            f"{self.cpu}, {self.cores} cores; {self.system}; "
            f"Python {self.python}, SQLite {self.sqlite}"
        )


def this_machine() -> Machine:
    """The CPU model, core count and software versions of this machine."""
    return Machine(
        cpu=_cpu_model(),
        cores=len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count() or 1,
        python=platform.python_version(),
        sqlite=sqlite3.sqlite_version,
        system=f"{platform.system()} {platform.release()}",
    )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def per(amount: float, over: float) -> float:
    """``amount / over``, or 0.0 when ``over`` is not positive (a phase too quick to time)."""
    return amount / over if over > 0 else 0.0


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table; the first column left-aligned, the others right-aligned."""
    align = [":---"] + ["---:"] * (len(header) - 1)
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def load_average() -> float | None:
    """The one-minute load average (other work competing for the cores), where known."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def section(
    title: str,
    body: str,
    command: str,
    *,
    load_before: float | None = None,
    when: datetime | None = None,
) -> str:
    """A report section: title, body, then machine, date and the command that reproduces it."""
    moment = (when or datetime.now(UTC)).astimezone(UTC)
    load = "" if load_before is None else f" (load average {load_before:.2f} when it started)"
    return (
        f"## {title}\n\n{body.strip()}\n\n"
        f"Measured {moment:%Y-%m-%d %H:%M} UTC on {this_machine().describe()}{load}.\n"
        f"Reproduce: `{command}`.\n"
    )


def update_report(path: Path, name: str, text: str) -> None:
    """Replace (or append) the section ``name`` of the report at ``path`` with ``text``."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{text.strip()}\n{end}"
    current = path.read_text(encoding="utf-8") if path.exists() else HEADER
    head, found, rest = current.partition(start)
    if found:
        _, closed, tail = rest.partition(end)
        if not closed:
            raise ValueError(f"{path}: {start} has no matching {end}")
        updated = head + block + tail
    else:
        updated = current.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(updated, encoding="utf-8")
    temporary.replace(path)
