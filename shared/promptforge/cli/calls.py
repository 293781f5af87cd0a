"""What every command that calls the API shares: its options, its client, its group.

A command names ``--url`` and ``--out`` (``client_options``), runs its calls with
``with_client`` (the ``PROMPTFORGE_API_KEY`` client; an API error printed, exit 1; no key,
exit 2), and belongs to a group whose commands all take ``--json`` (``command_group``).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from promptforge.client import ClientError, PromptForgeClient

__all__ = ["DEFAULT_URL", "client_options", "command_group", "with_client"]

DEFAULT_URL = "http://127.0.0.1:8080"
_console = Console(stderr=True)


def client_options(parser: argparse.ArgumentParser) -> None:
    """``--url`` and ``--out``, shared by every command that calls the API."""
    parser.add_argument(
        "--url",
        default=os.environ.get("PROMPTFORGE_URL", DEFAULT_URL),
        help="PromptForge base URL (env PROMPTFORGE_URL; default %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("promptforge-results"),
        help="where downloaded files go, under a folder per job (default %(default)s)",
    )


def command_group(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    help: str,
    description: str,
    examples: Mapping[str, str] | None = None,
) -> Callable[[str, str], argparse.ArgumentParser]:
    """Add the group ``name``; the answer adds one of its commands (``--json``, client options).

    The command's name is found in ``args.<name>_command``; ``examples`` (by command
    name) become the epilog of its ``--help``.
    """
    every = "Every command takes --json for the API's own JSON."
    group = sub.add_parser(name, help=help, description=f"{description} {every}")
    commands = group.add_subparsers(dest=f"{name}_command", required=True)

    def command(command_name: str, text: str) -> argparse.ArgumentParser:
        parser = commands.add_parser(
            command_name,
            help=text,
            description=text,
            epilog=(examples or {}).get(command_name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.add_argument("--json", action="store_true", help="print the API's JSON answer")
        client_options(parser)
        return parser

    return command


async def with_client(
    args: argparse.Namespace, run: Callable[[PromptForgeClient], Awaitable[int]]
) -> int:
    """Run ``run`` with a client of ``--url`` and ``PROMPTFORGE_API_KEY``; an API error is
    printed and answers 1 (no key: 2)."""
    key = os.environ.get("PROMPTFORGE_API_KEY")
    if not key:
        _console.print(
            "[red]set PROMPTFORGE_API_KEY[/red] (create one with `promptforge keys create`)"
        )
        return 2
    async with PromptForgeClient(args.url, key) as client:
        try:
            return await run(client)
        except ClientError as exc:
            _console.print(f"[red]error:[/red] {escape(str(exc))}")
            return 1
