"""``promptforge bench …``: benchmarks that print their figures and rewrite their report section.

Each benchmark is one subcommand of the ``bench`` group: ``add_bench_parser`` declares
them, and ``cmd_bench_<name>(args)`` runs one. To add a benchmark, add its parser in
``add_bench_parser`` and a ``cmd_bench_<name>`` here; ``cli.main`` needs no change.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path

from promptforge.bench.report import DEFAULT_REPORT


def add_bench_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``bench`` group and its benchmarks to the top-level subcommands."""
    bench = sub.add_parser(
        "bench", help="measure throughput and write the figures into docs/benchmarks.md"
    )
    benchmarks = bench.add_subparsers(dest="bench_command", required=True)

    pipeline = benchmarks.add_parser(
        "pipeline", help="a whole job over HTTP against the simulator (no limits, no latency)"
    )
    pipeline.add_argument("--prompts", type=int, default=20_000, help="prompts in the job")
    pipeline.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="concurrent dispatches and baseline calls (default 200)",
    )
    _report_options(pipeline)

    estimate = benchmarks.add_parser(
        "estimate", help="validate's price bracket vs. the simulator's actual cost; the cap"
    )
    estimate.add_argument("--prompts", type=int, default=3000, help="example prompts (≤ 3,000)")
    estimate.add_argument("--max-tokens", type=int, default=256, help="the jobs' max_tokens")
    _report_options(estimate)

    ingest = benchmarks.add_parser(
        "ingest", help="ingest speed and peak memory for a large JSONL upload"
    )
    ingest.add_argument("--megabytes", type=float, default=100.0, help="size of the file")
    _report_options(ingest)

    large = benchmarks.add_parser(
        "large", help="a 1 GB upload: ingest and finalize peak memory against a 10 MB one"
    )
    large.add_argument(
        "--megabytes",
        type=float,
        nargs="+",
        default=[10.0, 1024.0],
        help="sizes of the files, smallest first (default: 10 1024)",
    )
    large.add_argument(
        "--reliability",
        type=Path,
        default=Path("docs/reliability.md"),
        help="reliability page whose 'large' section to update",
    )
    _report_options(large)

    cloud = benchmarks.add_parser(
        "cloud",
        help="a job on the Google path (emulators): every billable operation counted and priced",
    )
    cloud.add_argument("--prompts", type=int, default=20_000, help="prompts in the job")
    _report_options(cloud)

    from promptforge.sim.rates.cli import add_arguments

    rate = benchmarks.add_parser(
        "rate",
        help="the rate controller against modelled providers and baselines, in virtual time",
    )
    add_arguments(rate)


def _report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--report", type=Path, default=DEFAULT_REPORT, help="markdown report to update"
    )
    parser.add_argument(
        "--no-report", action="store_true", help="print the figures, leave the report alone"
    )


async def cmd_bench_pipeline(args: argparse.Namespace) -> int:
    """Run the pipeline benchmark, print it, update the report."""
    from promptforge.bench.pipeline import (
        DEFAULT_CONCURRENCY,
        THROUGHPUT_AIM,
        report_section,
        run_pipeline_bench,
    )
    from promptforge.logs import configure_logging

    if args.prompts < 1 or (args.concurrency is not None and args.concurrency < 1):
        _print("[red]--prompts and --concurrency must be at least 1[/red]")
        return 2
    configure_logging("WARNING")
    concurrency = args.concurrency or DEFAULT_CONCURRENCY
    _print(
        f"pipeline: {args.prompts:,} prompts at concurrency {concurrency} "
        "(baseline first, then the job)…"
    )
    figures = await run_pipeline_bench(args.prompts, concurrency=concurrency)
    _table(
        "promptforge bench pipeline",
        [
            ("prompts", f"{figures.prompts:,} ({figures.file_megabytes:.1f} MB)"),
            ("upload done → ingest done", f"{figures.ingest_seconds:.2f} s"),
            ("→ every prompt has an outcome", f"+{figures.processing_seconds:.2f} s"),
            ("→ COMPLETED (finalize)", f"+{figures.finalize_seconds:.2f} s"),
            ("pipeline throughput", f"{figures.prompts_per_second:,.0f} prompts/s"),
            ("baseline: bare provider calls", f"{figures.baseline_per_second:,.0f} calls/s"),
            ("pipeline / baseline", f"{figures.ratio:.2f}"),
            (
                "CPU per prompt / per bare call",
                f"{figures.cpu_ms_per_prompt:.2f} / {figures.baseline_cpu_ms_per_call:.2f} ms",
            ),
            ("pipeline / baseline, per CPU-second", f"{figures.cpu_ratio:.2f}"),
            ("results / errors", f"{figures.results:,} / {figures.errors:,}"),
            ("every prompt_id exactly once", "yes" if figures.exactly_once else "NO"),
            ("dispatch rate applied", figures.dispatch),
        ],
    )
    if not args.no_report:
        _write(args.report, "pipeline", report_section(figures))
    met = figures.prompts_per_second >= THROUGHPUT_AIM
    _print(f"aim ≥ {THROUGHPUT_AIM:,} prompts/s: {'met' if met else 'not met'} on this machine")
    return 0 if figures.exactly_once else 1


async def cmd_bench_estimate(args: argparse.Namespace) -> int:
    """Run the estimate bench, print it, update the report."""
    from promptforge.bench.estimate import report_section, run_estimate_bench
    from promptforge.logs import configure_logging

    if not 1 <= args.prompts <= 3000 or args.max_tokens < 1:
        _print("[red]--prompts must be 1 to 3,000 and --max-tokens at least 1[/red]")
        return 2
    configure_logging("WARNING")
    figures = await run_estimate_bench(args.prompts, args.max_tokens)
    section = report_section(figures)
    _print(section)
    if not args.no_report:
        _write(args.report, "estimate", section)
    return 0 if figures.bracketed else 1


async def cmd_bench_ingest(args: argparse.Namespace) -> int:
    """Run the ingest benchmark, print it, update the report."""
    from promptforge.bench.ingest import (
        MEMORY_AIM_MB,
        THROUGHPUT_AIM_MB,
        report_section,
        run_ingest_bench,
    )

    if args.megabytes <= 0:
        _print("[red]--megabytes must be positive[/red]")
        return 2
    _print(f"ingest: generating and ingesting {args.megabytes:g} MB in a fresh process…")
    figures = await run_ingest_bench(args.megabytes)
    _table(
        "promptforge bench ingest",
        [
            ("file", f"{figures.megabytes:.1f} MB, {figures.lines:,} lines"),
            ("ingest", f"{figures.ingest_seconds:.2f} s"),
            ("ingest throughput", f"{figures.megabytes_per_second:.1f} MB/s"),
            ("", f"{figures.lines_per_second:,.0f} lines/s"),
            ("baseline: read + json.loads", f"{figures.baseline_megabytes_per_second:.0f} MB/s"),
            ("ingest / baseline", f"{figures.ratio:.3f}"),
            ("ingest per CPU-second", f"{figures.megabytes_per_cpu_second:.1f} MB"),
            ("peak memory growth", f"{figures.peak_growth_megabytes:.1f} MB"),
            ("prompts registered", f"{figures.prompts_registered:,}"),
            ("tasks queued", f"{figures.tasks_queued:,}"),
        ],
    )
    if not args.no_report:
        _write(args.report, "ingest", report_section(figures, args.megabytes))
    fast = figures.megabytes_per_second >= THROUGHPUT_AIM_MB
    lean = figures.peak_growth_megabytes < MEMORY_AIM_MB
    _print(
        f"aim ≥ {THROUGHPUT_AIM_MB:g} MB/s: {'met' if fast else 'not met'}; "
        f"memory growth < {MEMORY_AIM_MB:g} MB: {'met' if lean else 'not met'}"
    )
    return 0 if figures.complete else 1


async def cmd_bench_large(args: argparse.Namespace) -> int:
    """Run the large-upload benchmark, print it, update both reports."""
    from promptforge.bench.large import memory_is_flat, run_large_bench
    from promptforge.bench.large_report import SECTION, benchmarks_section, reliability_section

    if any(size <= 0 for size in args.megabytes):
        _print("[red]--megabytes must be positive[/red]")
        return 2
    sizes = " ".join(f"{size:g}" for size in args.megabytes)
    _print(f"large: {sizes} MB, each ingested, completed and finalized in a fresh process…")
    runs = await run_large_bench(args.megabytes)
    for run in runs:
        _table(
            f"promptforge bench large: {run.megabytes:,.1f} MB",
            [
                ("prompts", f"{run.lines:,}"),
                ("ingest", f"{run.ingest.seconds:.1f} s"),
                ("ingest throughput", f"{run.ingest_megabytes_per_second:.1f} MB/s"),
                ("ingest peak memory growth", f"{run.ingest.peak_growth_megabytes:.1f} MB"),
                ("outcomes recorded (no provider call)", f"{run.complete.seconds:.1f} s"),
                ("finalize", f"{run.finalize.seconds:.1f} s"),
                ("finalize peak memory growth", f"{run.finalize.peak_growth_megabytes:.1f} MB"),
                ("result shards", f"{run.check.result_files:,}"),
                ("result lines", f"{run.check.result_lines:,}"),
                ("COMPLETED, counters exact", "yes" if run.counters_exact else "NO"),
                ("every prompt_id exactly once", "yes" if run.check.exactly_once else "NO"),
            ],
        )
    command = f"promptforge bench large --megabytes {sizes}"
    if not args.no_report:
        _write(args.report, SECTION, benchmarks_section(runs, command))
        _write(args.reliability, SECTION, reliability_section(runs, command))
    flat = memory_is_flat(runs)
    _print(f"memory flat across sizes: {'yes' if flat else 'NO'}")
    return 0 if all(run.ok for run in runs) else 1


async def cmd_bench_cloud(args: argparse.Namespace) -> int:
    """Run the cloud-cost benchmark; its last line is one JSON object of the figures."""
    import json

    from promptforge.bench.cloud import run_cloud_bench
    from promptforge.bench.cloud_report import (
        HEADER,
        SECTION,
        breakdown_rows,
        hottest_documents,
        report_section,
    )
    from promptforge.logs import configure_logging

    if args.prompts < 1:
        _print("[red]--prompts must be at least 1[/red]")
        return 2
    configure_logging("WARNING")
    _print(f"cloud: {args.prompts:,} prompts through the metered Google path (emulators)…")
    figures = await run_cloud_bench(args.prompts)
    from rich.console import Console
    from rich.table import Table

    table = Table(title="promptforge bench cloud: list price per million prompts")
    for column in HEADER:
        table.add_column(column, justify="left" if column in ("service", "unit") else "right")
    for row in breakdown_rows(figures):
        table.add_row(*(cell.replace("**", "") for cell in row))
    Console().print(table)
    _print(f"most-written documents: {hottest_documents(figures)}")
    rpcs = ", ".join(
        f"{name} {n / figures.prompts:.2f}" for name, n in sorted(figures.calls.items())
    )
    _print(f"client calls per prompt: {rpcs}")
    if figures.unpriced:
        _print(f"[red]calls no price rule counts: {figures.unpriced}[/red]")
    if not args.no_report:
        command = f"promptforge bench cloud --prompts {args.prompts}"
        _write(args.report, SECTION, report_section(figures, command))
    print(json.dumps(figures.summary()), flush=True)
    ok = figures.status == "COMPLETED" and figures.lost == figures.duplicates == 0
    return 0 if ok and not figures.unpriced else 1


def _print(text: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(text)


def _table(title: str, rows: Sequence[tuple[str, str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for measure, value in rows:
        table.add_row(measure, value)
    Console().print(table)


def _write(path: Path, name: str, text: str) -> None:
    from promptforge.bench.report import update_report

    update_report(path, name, text)
    _print(f"updated the {name!r} section of {path}")


async def cmd_bench_rate(args: argparse.Namespace) -> int:
    """Run the rate-control simulation (docs/benchmarks/rate-control.md)."""
    from promptforge.sim.rates.cli import run

    return await asyncio.to_thread(run, args)
