"""The CLI's subcommands, each ``async def cmd_<name>(args) -> exit code``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from promptforge.bench.prompts import example_prompt_lines
from promptforge.clock import SystemClock
from promptforge.settings import Settings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from promptforge.client import PromptForgeClient
    from promptforge.jobstore.base import JobStore
    from promptforge.sim.providers.config import SimulatorConfig

console = Console(stderr=True)


def _settings(**overrides: object) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**values)  # type: ignore[arg-type]


async def _wait_for_signal(*, then: Callable[[], object] | None = None) -> None:
    """Return on the first SIGINT/SIGTERM; from then on, each further one calls ``then``."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def signalled() -> None:
        if stop.is_set() and then is not None:
            then()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, signalled)
    await stop.wait()


async def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the API with the embedded runtime until SIGINT/SIGTERM."""
    from promptforge.embedded.runtime import EmbeddedRuntime
    from promptforge.embedded.server import BackgroundServer
    from promptforge.logs import configure_logging

    settings = _settings(host=args.host, port=args.port, data_dir=args.data_dir)
    runtime = EmbeddedRuntime(settings)
    configure_logging(secrets=runtime.deps.credentials.secrets())
    async with runtime, BackgroundServer(runtime.app, settings.host, settings.port) as server:
        console.print(f"PromptForge serving on {server.url} (data in {settings.data_dir})")
        # A second signal while stopping cuts off the calls still in flight.
        await _wait_for_signal(then=runtime.cancel_calls)
        console.print("stopping: no new work; calls in flight finish and are recorded")
        await runtime.stop_work()
    return 0


async def cmd_simulate(args: argparse.Namespace) -> int:
    """Serve the provider simulator until SIGINT/SIGTERM."""
    from promptforge.embedded.server import BackgroundServer
    from promptforge.sim.providers.config import PROVIDERS
    from promptforge.sim.providers.options import config_from_args, describe
    from promptforge.sim.providers.server import create_app

    try:
        config = config_from_args(args)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    async with BackgroundServer(create_app(config, args.only), args.host, args.port) as server:
        served = args.only or f"{', '.join(PROVIDERS)} (mistral at /mistral)"
        console.print(f"provider simulator on {server.url} ({served})", soft_wrap=True)
        for line in describe(config):
            console.print(f"  {line}", soft_wrap=True, highlight=False)
        await _wait_for_signal()
    return 0


def simulator_config(
    *, rpm: int | None, tpm: int | None, latency: float | None, seed: int = 0
) -> SimulatorConfig:
    """A simulator config with the same limits for every provider where given."""
    from dataclasses import replace

    from promptforge.sim.providers.config import SimulatorConfig

    config = SimulatorConfig(seed=seed)
    if rpm is not None or tpm is not None:
        limits = {
            name: replace(spec, rpm=rpm or spec.rpm, tpm=tpm or spec.tpm)
            for name, spec in config.limits.items()
        }
        config = replace(config, limits=limits)
    if latency is not None:
        config = replace(config, latency_median=latency)
    return config


async def cmd_submit(args: argparse.Namespace) -> int:
    """Submit a file, show progress, download the results."""
    from promptforge.cli.calls import with_client
    from promptforge.cli.submit import submit_file

    if (args.prompt is None) == (args.provider is None or args.model is None):
        console.print("[red]error:[/red] give --provider and --model, or --prompt (not both)")
        return 2

    async def run(client: PromptForgeClient) -> int:
        summary = await submit_file(
            client,
            args.file,
            provider=args.provider,
            model=args.model,
            out_dir=args.out,
            max_retries=args.max_retries,
            rpm=args.rpm,
            tpm=args.tpm,
            params=args.params,
            labels={
                "name": args.name,
                "metadata": dict(args.metadata) if args.metadata else None,
                "webhook_url": args.webhook_url,
                "idempotency_key": args.idempotency_key,
                "prompt": args.prompt,
            },
            console=console,
        )
        return 0 if summary.status == "COMPLETED" else 1

    return await with_client(args, run)


async def cmd_status(args: argparse.Namespace) -> int:
    """Print a job's status as JSON."""
    from promptforge.cli.calls import with_client

    async def run(client: PromptForgeClient) -> int:
        print(json.dumps(await client.status(args.job_id), indent=2))
        return 0

    return await with_client(args, run)


async def cmd_results(args: argparse.Namespace) -> int:
    """Download a finished job's files."""
    from promptforge.cli.calls import with_client
    from promptforge.cli.submit import fetch_results

    async def run(client: PromptForgeClient) -> int:
        for path in await fetch_results(client, args.job_id, args.out):
            print(path)
        return 0

    return await with_client(args, run)


async def cmd_keys(args: argparse.Namespace) -> int:
    """Create or revoke an API key: in the embedded runtime's store, or a deployment's Firestore."""
    from promptforge.core.auth import create_api_key

    async with _key_store(args) as store:
        if args.keys_command == "create":
            key, record = await create_api_key(store, SystemClock(), args.tenant)
            console.print(f"key id {record.key_id} for tenant {record.tenant_id} (shown once):")
            print(key)
            return 0
        if await store.revoke_api_key(args.key_id):
            console.print(f"revoked {args.key_id}")
            return 0
        console.print(f"[red]no key with id {args.key_id}[/red]")
        return 1


@contextlib.asynccontextmanager
async def _key_store(args: argparse.Namespace) -> AsyncIterator[JobStore]:
    if args.firestore_project:
        from promptforge.gcp.wiring import open_firestore_store

        async with open_firestore_store(
            args.firestore_project, database=args.firestore_database, prefix=args.firestore_prefix
        ) as firestore_store:
            yield firestore_store
        return
    from promptforge.jobstore.sqlite import SqliteJobStore

    settings = _settings(data_dir=args.data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with SqliteJobStore(settings.data_dir / "jobs.db") as sqlite_store:
        yield sqlite_store


async def cmd_demo(args: argparse.Namespace) -> int:
    """Start the embedded runtime and the simulator, submit the example file, show the results."""
    from promptforge.embedded.served import serve_runtime
    from promptforge.embedded.server import BackgroundServer
    from promptforge.logs import configure_logging
    from promptforge.sim.providers.server import create_app

    configure_logging("WARNING")
    with contextlib.ExitStack() as stack:
        data_dir = args.data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        sim_config = simulator_config(rpm=args.limit_rpm, tpm=None, latency=0.3)
        async with BackgroundServer(create_app(sim_config)) as simulator:
            settings = Settings(
                data_dir=data_dir,
                openai_api_key="sk-demo-simulated",
                openai_base_url=simulator.url,
            )
            async with serve_runtime(settings, "demo") as served:
                prompts = _demo_file(data_dir, args.prompts)
                console.print(
                    f"PromptForge on {served.url}; provider simulator on {simulator.url} "
                    f"(OpenAI API, limit {args.limit_rpm} RPM — PromptForge is not told it)"
                )
                return await run_demo_job(served.url, served.api_key, prompts, args.out)
    return 1  # pragma: no cover - the runtime's context returns above


async def run_demo_job(url: str, api_key: str, prompts: Path, out: Path, where: str = "") -> int:
    """Submit the demo file with the progress display, download it, print the summary."""
    from promptforge.cli.submit import submit_file
    from promptforge.client import PromptForgeClient

    async with PromptForgeClient(url, api_key) as client:
        summary = await submit_file(
            client, prompts, provider="openai", model="gpt-4o-mini", out_dir=out, console=console
        )
    console.print(
        f"{summary.status}: {summary.completed_count} results, {summary.failed_count} errors "
        f"in {summary.elapsed_seconds:.1f}s{where}; files in {out / summary.job_id}"
    )
    return 0 if summary.status == "COMPLETED" else 1


def _demo_file(data_dir: Path, count: int) -> Path:
    lines = example_prompt_lines(count)
    path = data_dir / "example_prompts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


if sys.platform == "win32":  # pragma: no cover
    raise SystemExit("PromptForge's CLI needs a POSIX system")
