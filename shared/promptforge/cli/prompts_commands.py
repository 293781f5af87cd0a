"""``promptforge prompts create | list | show | tag``: the prompt registry from the shell.

A version file is Phoenix's ``POST /v1/prompts`` body (``{"prompt": {...}, "version":
{...}}``), or just its ``version`` object with ``--name``. ``show`` and
``submit --prompt`` name a version as ``NAME`` (latest), ``NAME@TAG`` or
``NAME:VERSION_ID``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from rich.console import Console
from rich.table import Table

from promptforge.cli.calls import command_group, with_client
from promptforge.client import PromptForgeClient
from promptforge.providers.registry import SUPPORTED_PROVIDERS

console = Console(stderr=True)


def prompt_target(text: str) -> dict[str, str]:
    """``NAME``, ``NAME@TAG`` or ``NAME:VERSION_ID`` as init's prompt fields."""
    name, colon, version_id = text.partition(":")
    if colon:
        if not name or not version_id:
            raise argparse.ArgumentTypeError(f"expected NAME:VERSION_ID, got {text!r}")
        return {"prompt_version_id": version_id}
    name, at, tag = text.partition("@")
    if not name or (at and not tag):
        raise argparse.ArgumentTypeError(
            f"expected NAME, NAME@TAG or NAME:VERSION_ID, got {text!r}"
        )
    return {"prompt": name, "tag": tag} if at else {"prompt": name}


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """``--provider`` and ``--model``, or ``--prompt``: what a submitted file runs on."""
    providers = ", ".join(SUPPORTED_PROVIDERS)
    parser.add_argument("--provider", help=f"{providers} (or --prompt)")
    parser.add_argument("--model", help="a model of that provider (or --prompt)")
    parser.add_argument(
        "--prompt",
        type=prompt_target,
        help="run a prompt version over rows {prompt_id, variables}: NAME (latest), "
        "NAME@TAG or NAME:VERSION_ID",
    )


def add_prompts_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``prompts`` group and its commands."""
    command = command_group(
        sub,
        "prompts",
        help="create, list, show and tag versioned prompts (Phoenix-compatible)",
        description="The prompt registry.",
    )
    create = command("create", "add a version (the prompt too, on first use of its name)")
    create.add_argument("file", type=Path, help="Phoenix's POST /v1/prompts body, or a version")
    create.add_argument("--name", help="the prompt's name, when the file is only a version")
    create.add_argument("--description", help="the prompt's description (first version only)")
    listing = command("list", "the prompts, or with NAME the versions of one, newest first")
    listing.add_argument("name", nargs="?", help="a prompt: list its versions")
    listing.add_argument("--limit", type=int, default=100, help="items per page (100)")
    listing.add_argument("--cursor", help="next_cursor of the previous page")
    command("show", "one version: NAME (latest), NAME@TAG or NAME:VERSION_ID").add_argument(
        "version", type=prompt_target
    )
    tag = command("tag", "tag a version (the tag moves there from any other version)")
    tag.add_argument("version_id", help="the version to tag")
    tag.add_argument("tag", help="the tag's name, e.g. production")
    tag.add_argument("--description", help="why the tag is there")


async def cmd_prompts_create(args: argparse.Namespace) -> int:
    """Create a version from a file."""
    data = json.loads(args.file.read_text())
    if "version" not in data:
        if not args.name:
            console.print("[red]error:[/red] the file is a version only: pass --name")
            return 2
        data = {"prompt": {"name": args.name}, "version": data}
    if args.name:
        data["prompt"]["name"] = args.name
    if args.description:
        data["prompt"]["description"] = args.description

    async def run(client: PromptForgeClient) -> dict[str, Any]:
        return await client.prompts("POST", "/v1/prompts", data)

    return await _call(args, run, lambda body: print(body["data"]["id"]))


async def cmd_prompts_list(args: argparse.Namespace) -> int:
    """Print a page of prompts, or of one prompt's versions."""
    query = f"?limit={args.limit}" + (f"&cursor={quote(args.cursor)}" if args.cursor else "")
    path = f"/v1/prompts/{quote(args.name, safe='')}/versions" if args.name else "/v1/prompts"

    async def run(client: PromptForgeClient) -> dict[str, Any]:
        return await client.prompts("GET", path + query)

    def show(page: dict[str, Any]) -> None:
        if args.name:
            table = Table("version_id", "model", "description")
            for v in page["data"]:
                model = f"{v['model_provider']}/{v['model_name']}"
                table.add_row(v["id"], model, v.get("description") or "")
        else:
            table = Table("name", "id", "description")
            for p in page["data"]:
                table.add_row(p["name"], p["id"], p.get("description") or "")
        Console().print(table)
        if page.get("next_cursor"):
            console.print(f"more: --cursor {page['next_cursor']}")

    return await _call(args, run, show)


async def cmd_prompts_show(args: argparse.Namespace) -> int:
    """Print one version as JSON (its template, model, parameters, tools)."""
    target: dict[str, str] = args.version
    if "prompt_version_id" in target:
        path = f"/v1/prompt_versions/{quote(target['prompt_version_id'], safe='')}"
    elif "tag" in target:
        path = (
            f"/v1/prompts/{quote(target['prompt'], safe='')}/tags/{quote(target['tag'], safe='')}"
        )
    else:
        path = f"/v1/prompts/{quote(target['prompt'], safe='')}/latest"

    async def run(client: PromptForgeClient) -> dict[str, Any]:
        return await client.prompts("GET", path)

    return await _call(args, run, lambda body: print(json.dumps(body["data"], indent=2)))


async def cmd_prompts_tag(args: argparse.Namespace) -> int:
    """Tag a version."""
    body = {"name": args.tag, **({"description": args.description} if args.description else {})}
    path = f"/v1/prompt_versions/{quote(args.version_id, safe='')}/tags"

    async def run(client: PromptForgeClient) -> dict[str, Any]:
        return await client.prompts("POST", path, body)

    return await _call(args, run, lambda _: print(f"{args.tag} → {args.version_id}"))


async def _call(
    args: argparse.Namespace,
    run: Callable[[PromptForgeClient], Awaitable[dict[str, Any]]],
    show: Callable[[dict[str, Any]], None],
) -> int:
    """Make the call; print its JSON with --json, else ``show`` it."""

    async def call(client: PromptForgeClient) -> int:
        body = await run(client)
        if args.json:
            print(json.dumps(body, indent=2, ensure_ascii=False))
        else:
            show(body)
        return 0

    return await with_client(args, call)
