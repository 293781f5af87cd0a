"""Estimate bench: validate's price bracket against what the simulator served, and the cap.

One process, 127.0.0.1 only: the provider simulator (no limits, no latency) and the
embedded runtime. For the shipped example prompts the bench asks ``/v1/jobs/validate``
for the estimate, runs the file uncapped and prices what the simulator reports it served
(its own token counts) at the catalogue's list prices: the actual cost, which the
estimate's bracket (``usd_low`` to ``usd_high``) must hold. Then it runs the same file with
``max_cost_usd`` at half the estimate's worst case and reports where the cap stopped it.

The simulator counts about four characters a token, as PromptForge's approximation does,
so its input-token figure matches the estimate's by construction; against a real provider
the approximation's error is the tokenizer's (docs/api.md).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from promptforge.bench.pipeline import unlimited_simulator
from promptforge.bench.prompts import example_prompt_lines
from promptforge.bench.report import load_average, markdown_table, section
from promptforge.cli.submit import fetch_results, wait_for_job
from promptforge.client import PromptForgeClient
from promptforge.embedded.served import serve_runtime
from promptforge.embedded.server import BackgroundServer
from promptforge.providers.catalogue import Catalogue
from promptforge.settings import Settings
from promptforge.sim.providers.server import create_app

PROVIDER = "openai"
MODEL = "gpt-4o-mini"
_SIM_KEY = "sk-bench-estimate-0123456789"
_POLL = 0.2


@dataclass(frozen=True)
class EstimateFigures:
    """The estimate, the uncapped run's actual cost, and the capped run's stop."""

    prompts: int
    max_tokens: int
    estimate: dict[str, Any]
    actual_input_tokens: int
    actual_output_tokens: int
    actual_usd: float
    cap_usd: float
    capped: dict[str, Any]
    uncapped_results: int
    capped_results: int
    capped_errors: dict[str, int]
    load_before: float | None

    @property
    def bracketed(self) -> bool:
        """Whether the estimate's bracket holds the actual cost."""
        low, high = float(self.estimate["usd_low"]), float(self.estimate["usd_high"])
        return low <= self.actual_usd <= high


async def run_estimate_bench(
    prompts: int, max_tokens: int, work_dir: Path | None = None
) -> EstimateFigures:
    """Validate, run uncapped, run capped at half the worst case; the figures."""
    load = load_average()
    lines = example_prompt_lines(prompts)
    info = Catalogue.load().find(PROVIDER, MODEL)
    assert info is not None
    with contextlib.ExitStack() as stack:
        root = work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        source = root / "prompts.jsonl"
        source.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        async with BackgroundServer(create_app(unlimited_simulator())) as sim:
            settings = Settings(
                data_dir=root / "data", openai_api_key=_SIM_KEY, openai_base_url=sim.url
            )
            async with (
                serve_runtime(settings, "bench") as pf,
                httpx.AsyncClient(timeout=60) as http,
                PromptForgeClient(pf.url, pf.api_key) as client,
            ):
                report = await client.validate(source, PROVIDER, MODEL, max_tokens=max_tokens)
                estimate = report["estimate"]
                await http.post(f"{sim.url}/_sim/reset")
                uncapped, _ = await _run(
                    client, source, root / "uncapped", {"max_tokens": max_tokens}
                )
                served = (await http.get(f"{sim.url}/_sim/stats")).json()[PROVIDER]
                cap = round(estimate["usd_high"] / 2, 6)
                params = {"max_tokens": max_tokens, "max_cost_usd": cap}
                capped, files = await _run(client, source, root / "capped", params)
        errors = _error_codes(files)
    actual = Catalogue.estimate_cost(info, served["input_tokens"], served["output_tokens"])
    return EstimateFigures(
        prompts=len(lines),
        max_tokens=max_tokens,
        estimate=estimate,
        actual_input_tokens=served["input_tokens"],
        actual_output_tokens=served["output_tokens"],
        actual_usd=actual,
        cap_usd=cap,
        capped=capped,
        uncapped_results=int(uncapped["completed_count"]),
        capped_results=int(capped["completed_count"]),
        capped_errors=errors,
        load_before=load,
    )


async def _run(
    client: PromptForgeClient, source: Path, out: Path, params: dict[str, Any]
) -> tuple[dict[str, Any], list[Path]]:
    """One job of ``source``, followed to its end; its final status and downloaded files."""
    created = await client.init_job(PROVIDER, MODEL, params=params)
    job_id = str(created["job_id"])
    await client.upload(str(created["upload_url"]), source)
    status = await wait_for_job(client, job_id, poll_interval=_POLL, max_poll_interval=_POLL)
    return status, await fetch_results(client, job_id, out)


def _error_codes(files: list[Path]) -> dict[str, int]:
    """How many lines of each error code a job's downloaded errors.jsonl holds."""
    codes: Counter[str] = Counter(
        json.loads(line)["error"]["code"]
        for path in files
        if path.name == "errors.jsonl"
        for line in path.read_text(encoding="utf-8").splitlines()
    )
    return dict(codes)


def report_section(figures: EstimateFigures) -> str:
    """The markdown section of docs/benchmarks.md."""
    e, capped = figures.estimate, figures.capped
    rows = [
        ("prompts (shipped examples), max_tokens", f"{figures.prompts:,}, {figures.max_tokens}"),
        ("estimate: input tokens (approximate)", f"{e['input_tokens']:,}"),
        ("simulator: input tokens served", f"{figures.actual_input_tokens:,}"),
        ("estimate: output tokens at most", f"{e['output_tokens_max']:,}"),
        ("simulator: output tokens served", f"{figures.actual_output_tokens:,}"),
        ("estimate: usd_low … usd_high", f"{e['usd_low']:.6f} … {e['usd_high']:.6f}"),
        ("uncapped run: results", f"{figures.uncapped_results:,}"),
        ("actual cost (uncapped run)", f"{figures.actual_usd:.6f}"),
        ("bracket holds", "yes" if figures.bracketed else "NO"),
        ("capped run: max_cost_usd (half of usd_high)", f"{figures.cap_usd:.6f}"),
        (
            "capped run: spent_usd / reserved_usd",
            f"{capped['spent_usd']:.6f} / {capped['reserved_usd']:.6f}",
        ),
        (
            "capped run: results + errors = prompts",
            f"{figures.capped_results:,} + {sum(figures.capped_errors.values()):,} = "
            f"{figures.capped_results + sum(figures.capped_errors.values()):,}",
        ),
        (
            "capped run: errors by code",
            ", ".join(f"{code} {n:,}" for code, n in sorted(figures.capped_errors.items()))
            or "none",
        ),
        ("capped run: stopped_reason", str(capped["stopped_reason"])),
    ]
    body = (
        "Validate's price before running against what the simulator served for the same "
        f"file ({PROVIDER}/{MODEL} list prices), then the same file capped at half the "
        "worst case.\n\n"
        + markdown_table(("measure", "value"), rows)
        + "\n\nThe capped run spends less than its cap: when the first reservation was "
        "refused, the calls in flight (up to 1,000 at once here) held their worst cases, "
        "answers at max_tokens, and used about half; the stop is for good, so the rest is "
        "left unspent (docs/api.md, the cost cap)."
    )
    command = (
        f"promptforge bench estimate --prompts {figures.prompts} --max-tokens {figures.max_tokens}"
    )
    return section(
        "Estimate vs. actual, and the cost cap", body, command, load_before=figures.load_before
    )
