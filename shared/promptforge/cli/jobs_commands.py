"""``promptforge jobs list|status|cancel|retry|validate|results``: manage jobs from a terminal.

Every command prints a human summary, or the API's JSON with ``--json`` (for scripts:
``promptforge jobs list --json | jq -r '.data[].job_id'``). Exit codes: 0 done, 1 the API
refused (or the file is not valid), 2 no API key.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from promptforge.cli.calls import command_group, with_client
from promptforge.client import PromptForgeClient
from promptforge.providers.registry import SUPPORTED_PROVIDERS

__all__ = ["add_jobs_parser", "add_submit_labels", "parse_metadata"]

console = Console(stderr=True)

_EXAMPLES = {
    "list": """examples:
  promptforge jobs list                      the 20 newest jobs
  promptforge jobs list --limit 100 --json   one page as the API's JSON
  promptforge jobs list --after JOB_ID       the page after JOB_ID""",
    "status": """examples:
  promptforge jobs status 3f0c...            progress, counts, name and metadata
  promptforge jobs status 3f0c... --json | jq .completed_count""",
    "cancel": """examples:
  promptforge jobs cancel 3f0c...            stop dispatching; calls in flight finish
  promptforge jobs cancel 3f0c... --json     the job's status after the request""",
    "retry": """examples:
  promptforge jobs retry 3f0c...                     re-run every failure a retry could fix
  promptforge jobs retry 3f0c... --code timeout      only the prompts that timed out
  promptforge jobs retry 3f0c... --max-retries 5     the new job retries more""",
    "validate": """examples:
  promptforge jobs validate prompts.jsonl --provider openai --model gpt-4o-mini
  promptforge jobs validate prompts.jsonl --provider anthropic \\
      --model claude-3-5-haiku-latest --json""",
    "results": """examples:
  promptforge jobs results 3f0c...                     download the files to ./promptforge-results
  promptforge jobs results 3f0c... --stream > out.jsonl  every line so far, also while it runs
  promptforge jobs results 3f0c... --json              the signed URLs, without downloading""",
}


def parse_metadata(text: str) -> tuple[str, str]:
    """``key=value`` (for ``--metadata``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key, value


def add_submit_labels(submit: argparse.ArgumentParser) -> None:
    """``submit``'s options for what init records beside the prompts: name, metadata, webhook,
    Idempotency-Key."""
    submit.add_argument("--name", help="a name to find the job by in `promptforge jobs list`")
    submit.add_argument(
        "--metadata",
        action="append",
        type=parse_metadata,
        default=None,
        metavar="KEY=VALUE",
        help="a metadata pair shown in status and list; repeatable (up to 16)",
    )
    submit.add_argument(
        "--webhook-url",
        help="POST a signed event there when the job ends (the secret is printed once)",
    )
    submit.add_argument(
        "--idempotency-key", help="makes the submit safe to retry: the same key, the same job"
    )


def add_jobs_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``jobs`` group and its commands to the top-level subcommands."""
    command = command_group(
        sub,
        "jobs",
        help="list, inspect, cancel, retry, validate jobs and read their results",
        description="Manage jobs.",
        examples=_EXAMPLES,
    )
    listing = command("list", "the caller's jobs, newest first, one page at a time")
    listing.add_argument("--limit", type=int, default=20, help="jobs per page, 1-100 (20)")
    listing.add_argument("--after", help="a job_id: list the jobs older than it (next page)")
    command("status", "one job's progress, counts and settings").add_argument(
        "job_id", help="the job_id that init (or submit) printed"
    )
    command("cancel", "stop a job: nothing more is sent, calls in flight finish").add_argument(
        "job_id", help="the job to cancel"
    )
    retry = command("retry", "re-run an ended job's failed prompts as a new job (no re-upload)")
    retry.add_argument("job_id", help="the ended job whose failures to re-run")
    retry.add_argument(
        "--code",
        dest="codes",
        action="append",
        help="re-run the prompts that failed with this code (repeatable; default: every "
        "error a retry could fix)",
    )
    retry.add_argument("--max-retries", type=int, help="the new job's max_retries")
    validate = command("validate", "check a JSONL file for a provider and model; runs nothing")
    validate.add_argument("file", type=Path, help="the JSONL file (one prompt per line)")
    validate.add_argument("--provider", required=True, help=", ".join(SUPPORTED_PROVIDERS))
    validate.add_argument("--model", required=True, help="a model of that provider")
    validate.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        help="the job's max_tokens, for the estimate's worst case (default: the model's cap)",
    )
    results = command("results", "download an ended job's files, or stream its lines")
    results.add_argument("job_id", help="the job whose results to fetch")
    results.add_argument(
        "--stream",
        action="store_true",
        help="print every result line so far, then the error lines, as NDJSON on stdout "
        "(works while the job runs)",
    )


async def cmd_jobs_list(args: argparse.Namespace) -> int:
    """Print a page of jobs."""

    async def run(client: PromptForgeClient) -> int:
        page = await client.list_jobs(args.limit, args.after)
        if args.json:
            return _print_json(page)
        table = Table("job_id", "status", "name", "done", "created_at")
        for job in page["data"]:
            done = f"{job['completed_count'] + job['failed_count']}/{job['prompt_count']}"
            table.add_row(job["job_id"], job["status"], job["name"] or "", done, job["created_at"])
        Console().print(table)
        if page["has_more"] and page["data"]:
            console.print(f"more: promptforge jobs list --after {page['data'][-1]['job_id']}")
        return 0

    return await with_client(args, run)


async def cmd_jobs_status(args: argparse.Namespace) -> int:
    """Print one job's status."""

    async def run(client: PromptForgeClient) -> int:
        status = await client.status(args.job_id)
        return _print_json(status) if args.json else _print_status(status)

    return await with_client(args, run)


async def cmd_jobs_cancel(args: argparse.Namespace) -> int:
    """Cancel a job."""

    async def run(client: PromptForgeClient) -> int:
        status = await client.cancel(args.job_id)
        if args.json:
            return _print_json(status)
        ending = (
            ""
            if status["status"] == "CANCELLED"
            else " (ends CANCELLED once calls in flight finish)"
        )
        console.print(f"cancel requested for {status['job_id']}: {status['status']}{ending}")
        return 0

    return await with_client(args, run)


async def cmd_jobs_retry(args: argparse.Namespace) -> int:
    """Create the job that re-runs an ended job's failures."""

    async def run(client: PromptForgeClient) -> int:
        created = await client.retry(args.job_id, args.codes, args.max_retries)
        if args.json:
            return _print_json(created)
        codes = ", ".join(f"{code} ({count})" for code, count in created["codes"].items())
        console.print(
            f"job {created['job_id']} re-runs {created['retried_count']} prompt(s) of "
            f"{created['parent_job_id']}: {codes}"
        )
        print(created["job_id"])
        return 0

    return await with_client(args, run)


async def cmd_jobs_validate(args: argparse.Namespace) -> int:
    """Validate a file; exit 1 when it has problems."""

    async def run(client: PromptForgeClient) -> int:
        report = await client.validate(
            args.file, args.provider, args.model, max_tokens=args.max_tokens
        )
        if args.json:
            _print_json(report)
        else:
            for error in report["errors"]:
                where = "request" if error["line"] is None else f"line {error['line']}"
                console.print(escape(f"{where}: {error['code']}: {error['message']}"))
            count = report.get("error_count", len(report["errors"]))
            verdict = "valid" if report["valid"] else f"{count} problem(s)"
            console.print(f"{report['prompt_count']} valid prompt(s); {verdict}")
            _print_estimate(report.get("estimate"))
        return 0 if report["valid"] else 1

    return await with_client(args, run)


def _print_estimate(estimate: dict[str, Any] | None) -> None:
    """One line: the file's price bracket and its token counts (approximate)."""
    if not estimate:
        return
    console.print(
        f"estimate: {estimate['usd_low']:.4f} to {estimate['usd_high']:.4f} USD "
        f"({estimate['input_tokens']:,} input tokens, approximate; at most "
        f"{estimate['output_tokens_max']:,} output tokens)"
    )


async def cmd_jobs_results(args: argparse.Namespace) -> int:
    """Download an ended job's files, print their URLs, or stream its lines."""
    from promptforge.cli.submit import fetch_results

    async def run(client: PromptForgeClient) -> int:
        if args.stream:
            async for line in client.stream_results(args.job_id):
                sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
            return 0
        if args.json:
            return _print_json(await client.results(args.job_id))
        for path in await fetch_results(client, args.job_id, args.out):
            print(path)
        return 0

    return await with_client(args, run)


def _print_json(body: dict[str, Any]) -> int:
    print(json.dumps(body, indent=2, ensure_ascii=False))
    return 0


def _print_status(status: dict[str, Any]) -> int:
    for field in (
        "job_id", "status", "name", "prompt_count", "completed_count", "failed_count",
        "created_at", "completed_at", "cancel_requested_at", "estimated_cost_usd",
        "max_cost_usd", "spent_usd", "reserved_usd", "stopped_reason",
        "parent_job_id", "deduplicated_count",
    ):  # fmt: skip
        if status.get(field) is not None:
            print(f"{field}: {status[field]}")
    if status.get("schema_retries"):  # re-asks for answers off the schema (billed calls)
        print(f"schema_retries: {status['schema_retries']}")
    for key, value in (status.get("metadata") or {}).items():
        print(f"metadata.{key}: {value}")
    if status.get("error"):
        print(f"error: {status['error']['code']}: {status['error']['message']}")
    return 0
