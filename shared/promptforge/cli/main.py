"""``promptforge``: serve, simulate, submit, status, results, jobs, prompts, keys, demo, dev,
bench."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from promptforge.cli.calls import client_options
from promptforge.cli.jobs_commands import add_jobs_parser, add_submit_labels
from promptforge.cli.prompts_commands import add_prompts_parser, add_target_options
from promptforge.errors import ConfigurationError


def _key_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="the embedded runtime's data directory"
    )
    parser.add_argument(
        "--firestore-project",
        default=None,
        help="store the key in this Google Cloud project's Firestore (a deployment) instead",
    )
    parser.add_argument("--firestore-database", default="(default)")
    parser.add_argument("--firestore-prefix", default="pf", help="collection name prefix")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="promptforge", description="Run large batches of LLM prompts at the provider's limit."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run a whole job locally against the provider simulator")
    demo.add_argument("--prompts", type=int, default=2000, help="how many example prompts to run")
    demo.add_argument("--limit-rpm", type=int, default=3000, help="the simulator's RPM limit")
    demo.add_argument("--out", type=Path, default=Path("promptforge-results"))
    demo.add_argument("--data-dir", type=Path, default=None, help="state dir (default: temporary)")

    dev = sub.add_parser("dev", help="try a runtime on this machine before deploying it")
    dev_sub = dev.add_subparsers(dest="dev_command", required=True)
    google = dev_sub.add_parser(
        "google",
        help="the demo job through the four functions on the Google emulators (needs a clone)",
    )
    google.add_argument("--prompts", type=int, default=100, help="how many example prompts")
    google.add_argument("--limit-rpm", type=int, default=3000, help="the simulator's RPM limit")
    google.add_argument("--out", type=Path, default=Path("promptforge-results"))
    google.add_argument("--data-dir", type=Path, default=None, help="logs (default: temporary)")

    serve = sub.add_parser("serve", help="serve the API with the embedded runtime")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--data-dir", type=Path, default=None)

    simulate = sub.add_parser(
        "simulate", help="serve the provider simulator (OpenAI, Anthropic, Gemini, Mistral)"
    )
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=8090)
    from promptforge.sim.providers.options import add_simulator_options

    add_simulator_options(simulate)

    submit = sub.add_parser("submit", help="submit a JSONL file and download its results")
    submit.add_argument("file", type=Path)
    add_target_options(submit)
    submit.add_argument("--max-retries", type=int, default=3)
    submit.add_argument("--rpm", type=int, default=None)
    submit.add_argument("--tpm", type=int, default=None)
    submit.add_argument(
        "--params",
        type=json.loads,
        default=None,
        help="generation options as JSON, e.g. '{\"temperature\": 0}'",
    )
    add_submit_labels(submit)
    client_options(submit)

    status = sub.add_parser("status", help="show a job's status (see also `promptforge jobs`)")
    status.add_argument("job_id")
    client_options(status)

    results = sub.add_parser("results", help="download a finished job's files")
    results.add_argument("job_id")
    client_options(results)

    add_jobs_parser(sub)
    add_prompts_parser(sub)

    keys = sub.add_parser("keys", help="manage API keys (embedded runtime, or a deployment)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key (printed once, stored hashed)")
    create.add_argument("--tenant", required=True, help="who the key's jobs belong to")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    for command in (create, revoke):
        _key_store_options(command)

    from promptforge.cli.bench_commands import add_bench_parser

    add_bench_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``promptforge`` command."""
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(_dispatch(args))
    except KeyboardInterrupt:
        return 130
    except (ConfigurationError, ValidationError) as exc:
        print(f"promptforge: cannot start: {_config_message(exc)}", file=sys.stderr)
        return 2


def _config_message(exc: ConfigurationError | ValidationError) -> str:
    """A setting's problem in one line per setting, without a traceback."""
    if isinstance(exc, ConfigurationError):
        return str(exc)
    problems = []
    for error in exc.errors():
        field = "_".join(str(part) for part in error["loc"]).upper()
        where = f"PROMPTFORGE_{field}: " if field else ""
        problems.append(where + error["msg"].removeprefix("Value error, "))
    return "; ".join(problems)


async def _dispatch(args: argparse.Namespace) -> int:
    from promptforge.cli import commands

    if args.command == "bench":
        from promptforge.cli import bench_commands

        handler = getattr(bench_commands, f"cmd_bench_{args.bench_command}")
    elif args.command == "prompts":
        from promptforge.cli import prompts_commands

        handler = getattr(prompts_commands, f"cmd_prompts_{args.prompts_command}")
    elif args.command == "jobs":
        from promptforge.cli import jobs_commands

        handler = getattr(jobs_commands, f"cmd_jobs_{args.jobs_command}")
    elif args.command == "dev":
        from promptforge.cli import dev_commands

        handler = getattr(dev_commands, f"cmd_dev_{args.dev_command}")
    else:
        handler = getattr(commands, f"cmd_{args.command}")
    code: int = await handler(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
