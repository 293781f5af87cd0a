"""``bench cloud``: a real job on the Google path, every billable operation counted and priced.

The stack is ``promptforge dev google``'s (``devstack.google``: the Firestore, GCS and
Cloud Tasks emulators, the four functions under functions-framework behind the Cloud
Run front-end stand-in), with each function served from a metered wrapper
(``bench.cloud_meter``), against the provider simulator with a limit far above the
job. The bench submits the file as ``promptforge submit`` does (status polled by the
CLI's own loop), downloads the results, and counts lost and duplicated ``prompt_id``s
against the input. The client's own signed-URL operations (the upload PUT, one GET per
output file) are GCS operations too and are added to the functions' counts.

The counts are summed over the function processes and priced with
``bench.cloud_prices`` (the one price table). Emulators are slower than the real
services, so handler time (and so instance-seconds) is an upper bound; operation
counts do not depend on speed.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from promptforge.bench.cloud_meter import wrapper_source
from promptforge.bench.cloud_prices import billable_quantities, cost, service_of
from promptforge.bench.prompts import write_prompt_file
from promptforge.devstack.processes import REPO
from promptforge.settings import Settings

SIMULATOR_RPM = 1_000_000
"""The simulator's limit: far above what the emulators reach, so no 429 is ever seen."""
SIMULATOR_LATENCY = 0.05
FLUSH_PATIENCE = 60.0
"""How long the function processes get to write their counts once the job is done."""
PROVIDER, MODEL = "openai", "gpt-4o-mini"
CONTROL_PERIOD = float(Settings.model_fields["control_period"].default)
"""The controller's period the deployed functions run with (``promptforge dev google``'s
is shorter): each tick is a few reads and one rate-key write whatever the throughput, so
the bench runs the deployed period."""
TICK_DOCUMENT = re.compile(r"_rate_keys/[^/]+(/states/[^/]+)?$")
"""The documents written per controller tick (the rate key's state: a document per version,
``gcp/_firestore_rate.py``; one document rewritten every tick before), not per prompt."""
KINDS = (
    "firestore.read",
    "firestore.write",
    "firestore.delete",
    "tasks.api",
    "tasks.delivery",
    "gcs.class_a",
    "gcs.class_b",
    "run.requests",
)


@dataclass
class CloudFigures:
    """What one ``bench cloud`` run measured."""

    prompts: int
    status: str
    ops: dict[str, float]
    document_writes: Counter[str]
    unpriced: dict[str, int]
    lost: int
    duplicates: int
    elapsed_seconds: float
    calls: dict[str, int] = field(default_factory=dict)

    @property
    def quantities(self) -> dict[str, float]:
        """Priced quantities (operations, vCPU-seconds, GiB-seconds) for the whole job."""
        return billable_quantities(self.ops)

    @property
    def usd(self) -> dict[str, float]:
        """USD per priced unit for the whole job."""
        return cost(self.quantities)

    @property
    def usd_per_million(self) -> float:
        """The platform's bill per million prompts."""
        return sum(self.usd.values()) / self.prompts * 1e6

    def per_prompt(self, kind: str) -> float:
        """Operations of ``kind`` per prompt."""
        return self.quantities.get(kind, 0.0) / self.prompts

    @property
    def hottest(self) -> tuple[str, int]:
        """The most-written document and its write count."""
        if not self.document_writes:
            return "", 0
        path, count = self.document_writes.most_common(1)[0]
        return path, count

    def tick_writes(self) -> int:
        """Writes and deletes of every per-tick document together (the controller's saves)."""
        return sum(n for path, n in self.document_writes.items() if TICK_DOCUMENT.search(path))

    def hottest_where(self, *, per_tick: bool) -> int:
        """The most writes one document took among those written per controller tick
        (``per_tick``: their count follows the run's length) or among the others (their
        count follows the prompts)."""
        counts = [
            n
            for path, n in self.document_writes.items()
            if bool(TICK_DOCUMENT.search(path)) == per_tick
        ]
        return max(counts, default=0)

    def summary(self) -> dict[str, Any]:
        """The last line ``bench cloud`` prints: the issue's figures, then the hottest
        document split by what drives its writes (prompts, or the controller's clock), and
        the writes of the rate key's state documents together, per second."""
        per_1k = 1000 / self.prompts
        return {
            "prompts": self.prompts,
            "usd_per_million_prompts": round(self.usd_per_million, 4),
            "ops_per_prompt": {kind: round(self.per_prompt(kind), 3) for kind in KINDS},
            "hottest_document_writes_per_1k_prompts": round(self.hottest[1] * per_1k, 2),
            "lost": self.lost,
            "duplicates": self.duplicates,
            "hottest_per_prompt_document_writes_per_1k_prompts": round(
                self.hottest_where(per_tick=False) * per_1k, 2
            ),
            "tick_document_writes_per_second": round(
                self.hottest_where(per_tick=True) / max(self.elapsed_seconds, 1e-9), 3
            ),
            "rate_state_writes_per_second": round(
                self.tick_writes() / max(self.elapsed_seconds, 1e-9), 3
            ),
        }

    def by_service(self) -> dict[str, float]:
        """USD per million prompts by service."""
        services: dict[str, float] = {}
        for kind, usd in self.usd.items():
            service = service_of(kind)
            services[service] = services.get(service, 0.0) + usd / self.prompts * 1e6
        return services


async def run_cloud_bench(prompts: int, *, work_dir: Path | None = None) -> CloudFigures:
    """Run one job of ``prompts`` prompts on the metered Google path."""
    with tempfile.TemporaryDirectory(prefix="pf-bench-cloud-") as scratch:
        work = work_dir or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        return await _run(prompts, work)


async def _run(prompts: int, work: Path) -> CloudFigures:
    from promptforge.cli.commands import simulator_config
    from promptforge.cli.submit import submit_file
    from promptforge.client import PromptForgeClient
    from promptforge.devstack.google import google_dev_stack
    from promptforge.embedded.server import BackgroundServer
    from promptforge.sim.providers.server import create_app

    source = write_prompt_file(work / "prompts.jsonl", prompts=prompts, document_share=0.0)
    meters = work / "meters"
    meters.mkdir(exist_ok=True)

    def function_source(name: str) -> Path:
        folder = work / "functions" / name
        folder.mkdir(parents=True, exist_ok=True)
        main = folder / "main.py"
        real = REPO / "functions" / name / "main.py"
        main.write_text(wrapper_source(name, real, meters / f"{name}.json"), encoding="utf-8")
        return main

    config = simulator_config(rpm=SIMULATOR_RPM, tpm=None, latency=SIMULATOR_LATENCY)
    async with BackgroundServer(create_app(config)) as simulator:
        provider = {
            "PROMPTFORGE_OPENAI_API_KEY": "sk-bench-simulated",
            "PROMPTFORGE_OPENAI_BASE_URL": simulator.url,
        }
        async with google_dev_stack(
            work, provider, control_period=CONTROL_PERIOD, function_source=function_source
        ) as google:
            async with PromptForgeClient(google.api_url, google.api_key) as client:
                summary = await submit_file(
                    client,
                    source.path,
                    provider=PROVIDER,
                    model=MODEL,
                    out_dir=work / "out",
                    show_progress=False,
                    console=Console(stderr=True),
                )
            await _wait_for_flush(meters, time.time())
    ops, calls, writes, unpriced = _sum_meters(meters)
    ops["gcs.class_a"] += 1  # the client's PUT to the signed upload URL
    ops["gcs.class_b"] += len(summary.files)  # one signed GET per output file
    lost, duplicates = count_lost_and_duplicates(summary.files, source.path)
    return CloudFigures(
        prompts=prompts,
        status=summary.status,
        ops=dict(ops),
        document_writes=writes,
        unpriced=dict(unpriced),
        lost=lost,
        duplicates=duplicates,
        elapsed_seconds=summary.elapsed_seconds,
        calls=dict(calls),
    )


async def _wait_for_flush(folder: Path, after: float) -> None:
    """Wait until every function process has written its counts since ``after``."""
    deadline = time.monotonic() + FLUSH_PATIENCE
    while time.monotonic() < deadline:
        if await asyncio.to_thread(_all_written_since, folder, after):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the function processes stopped writing their counts to {folder}")


def _all_written_since(folder: Path, after: float) -> bool:
    files = list(folder.glob("*.json"))
    return bool(files) and all(path.stat().st_mtime > after for path in files)


def _sum_meters(folder: Path) -> tuple[Counter[str], Counter[str], Counter[str], Counter[str]]:
    ops: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    writes: Counter[str] = Counter()
    unpriced: Counter[str] = Counter()
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        ops.update(data["ops"])
        calls.update(data["calls"])
        writes.update(data["document_writes"])
        unpriced.update(data["unpriced"])
    return ops, calls, writes, unpriced


def count_lost_and_duplicates(files: list[Path], source: Path) -> tuple[int, int]:
    """(input ``prompt_id``s with no result or error line, lines beyond one per id)."""
    seen: Counter[str] = Counter()
    for path in files:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    seen[str(json.loads(line)["prompt_id"])] += 1
    with source.open(encoding="utf-8") as handle:
        expected = {str(json.loads(line)["prompt_id"]) for line in handle if line.strip()}
    lost = len(expected - set(seen))
    duplicates = sum(count - 1 for count in seen.values() if count > 1)
    duplicates += sum(count for prompt_id, count in seen.items() if prompt_id not in expected)
    return lost, duplicates
