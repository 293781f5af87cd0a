"""What ``promptforge bench large`` writes into ``docs/benchmarks.md`` and ``docs/reliability.md``.

Both are rewritten whole between their ``<!-- bench:large -->`` markers
(``bench.report.update_report``): the benchmark's figures size by size, and the short
table the reliability page keeps under issue 6 ("a 1 GB upload").
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from promptforge.bench.ingest import MEGABYTE
from promptforge.bench.large import FLAT_SLACK_MB, LargeFigures, memory_is_flat
from promptforge.bench.report import markdown_table, section

SECTION = "large"
"""The section name in both files."""


def _size(run: LargeFigures) -> str:
    return f"{run.megabytes:,.0f} MB" if run.megabytes >= 1 else f"{run.megabytes:.2f} MB"


def _mb(value: float) -> str:
    return f"{value:.1f} MB"


def _yes(flag: bool) -> str:
    return "yes" if flag else "**NO**"


def _rows(runs: Sequence[LargeFigures]) -> list[list[str]]:
    def row(measure: str, cells: Sequence[str]) -> list[str]:
        return [measure, *cells]

    return [
        row("prompts", [f"{r.lines:,} ({r.bytes / r.lines:,.0f} B/line)" for r in runs]),
        row("ingest", [f"{r.ingest.seconds:,.1f} s" for r in runs]),
        row(
            "**ingest throughput**",
            [
                f"**{r.ingest_megabytes_per_second:.1f} MB/s** "
                f"({r.ingest_lines_per_second:,.0f} prompts/s)"
                for r in runs
            ],
        ),
        row(
            "ingest / baseline (read + `json.loads`)",
            [
                f"{r.ingest_megabytes_per_second / r.baseline_megabytes_per_second:.3f} "
                f"({r.baseline_megabytes_per_second:.0f} MB/s)"
                if r.baseline_megabytes_per_second > 0
                else "-"
                for r in runs
            ],
        ),
        row(
            "**ingest peak memory growth**",
            [f"**{_mb(r.ingest.peak_growth_megabytes)}**" for r in runs],
        ),
        row(
            "every outcome recorded (no provider call)",
            [
                f"{r.complete.seconds:,.1f} s, peak growth {_mb(r.complete.peak_growth_megabytes)}"
                for r in runs
            ],
        ),
        row(
            "**finalize**",
            [
                f"**{r.finalize.seconds:,.1f} s** ({r.finalize_lines_per_second:,.0f} lines/s)"
                for r in runs
            ],
        ),
        row(
            "**finalize peak memory growth**",
            [f"**{_mb(r.finalize.peak_growth_megabytes)}**" for r in runs],
        ),
        row(
            "resident before ingest / finalize",
            [
                f"{r.ingest.rss_before_bytes / MEGABYTE:.0f} / "
                f"{r.finalize.rss_before_bytes / MEGABYTE:.0f} MB"
                for r in runs
            ],
        ),
        row(
            "result shards / result lines / error lines",
            [
                f"{r.check.result_files:,} / {r.check.result_lines:,} / {r.check.error_lines:,}"
                for r in runs
            ],
        ),
        row("job `COMPLETED`, counters exact", [_yes(r.counters_exact) for r in runs]),
        row(
            "**every `prompt_id` exactly once**",
            [f"**{_yes(r.check.exactly_once)}**" for r in runs],
        ),
    ]


def _verdict(runs: Sequence[LargeFigures]) -> str:
    flat = memory_is_flat(runs)
    small = min(runs, key=lambda r: r.bytes)
    large = max(runs, key=lambda r: r.bytes)
    exact = all(r.ok for r in runs)
    problems = "; ".join(f"{_size(r)}: {r.check.problem}" for r in runs if r.check.problem)
    return (
        f"Aims: peak memory growth of ingest and of finalize at {_size(large)} within "
        f"{FLAT_SLACK_MB:g} MB of their growth at {_size(small)}: "
        f"{'met' if flat else '**not met**'}; every prompt exactly once and the counters exact "
        f"at every size: {'met' if exact else '**not met**'}."
        + (f" Found: {problems}." if problems else "")
    )


def benchmarks_section(runs: Sequence[LargeFigures], command: str) -> str:
    """The ``large`` section of ``docs/benchmarks.md``."""
    if not runs:
        raise ValueError("no runs to report")
    table = markdown_table(["measure", *(_size(r) for r in runs)], _rows(runs))
    body = f"""
Generated uploads of short realistic prompts (the example prompts, no multi-paragraph
documents), one size after another, each in a fresh Python process on its own
temporary embedded stores. Three phases, each measured alone (wall time and the rise
of the peak resident set over the phase): **ingest** is the handler the embedded
runtime runs on the upload's finalize event (stream, validate, register every prompt
in SQLite, one durable task per prompt; the dispatcher is off); then every prompt gets
a result through the job store's `record_outcomes`, 500 at a time from 8 concurrent
recorders, as workers record theirs (no provider is called and no task runs: millions
of provider calls are not what is measured here); **finalize** is the handler the
runtime runs on the job's finalize task: every result shard, `errors.jsonl`, the job
`COMPLETED`. Then the outputs are checked, streamed: the count and a 128-bit multiset
hash of the `prompt_id`s across the shards and `errors.jsonl` equal the input's, every
shard within its line limit, the job's counters equal the files. The baseline reads
the same file line by line and `json.loads` each line.

{table}

{_verdict(runs)}
"""
    load = runs[0].load_before
    return section("A 1 GB upload: ingest and finalize memory", body, command, load_before=load)


def reliability_section(runs: Sequence[LargeFigures], command: str) -> str:
    """The ``large`` section of ``docs/reliability.md``: a paragraph and a small table."""
    if not runs:
        raise ValueError("no runs to report")
    small = min(runs, key=lambda r: r.bytes)
    large = max(runs, key=lambda r: r.bytes)
    table = markdown_table(
        [
            "upload",
            "prompts",
            "ingest",
            "ingest peak RSS growth",
            "finalize",
            "finalize peak RSS growth",
            "exactly once, counters = files",
        ],
        [
            [
                _size(r),
                f"{r.lines:,}",
                f"{r.ingest.seconds:,.1f} s ({r.ingest_megabytes_per_second:.1f} MB/s)",
                _mb(r.ingest.peak_growth_megabytes),
                f"{r.finalize.seconds:,.1f} s",
                _mb(r.finalize.peak_growth_megabytes),
                _yes(r.ok),
            ]
            for r in runs
        ],
    )
    flat = "does not grow" if memory_is_flat(runs) else "**grows**"
    times = large.lines / small.lines
    ingest, final = (
        f"{_mb(getattr(small, phase).peak_growth_megabytes)} and "
        f"{_mb(getattr(large, phase).peak_growth_megabytes)}"
        for phase in ("ingest", "finalize")
    )
    paragraph = f"""Memory {flat} with the file. From {_size(small)} to {_size(large)} \
({times:,.0f} times the prompts), ingest's peak resident set rose by {ingest} above where it \
started, finalize's by {final} (the aim: each within {FLAT_SLACK_MB:g} MB of its small-file \
figure). Both stream: ingest holds a few batches of 500 lines, finalize one page of 1,000 \
outcomes and one shard's write buffer. Each size ran in a fresh process on the embedded \
runtime's stores: the real ingest handler, then every prompt given a result through the job \
store as workers record them (no provider call), then the real finalize handler; afterwards \
every `prompt_id` was found exactly once across the shards and `errors.jsonl` (a count and a \
multiset hash, streamed) and the job was `COMPLETED` with counters equal to the files. Method \
and more figures: `docs/benchmarks.md` ("A 1 GB upload")."""
    text = textwrap.fill(paragraph, width=88)
    return f"## A 1 GB upload\n\n{text}\nReproduce: `{command}`.\n\n{table}\n"
