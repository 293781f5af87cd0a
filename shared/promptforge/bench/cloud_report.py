"""``bench cloud``'s breakdown: the table it prints and its section of docs/benchmarks.md."""

from __future__ import annotations

from promptforge.bench.cloud import CloudFigures
from promptforge.bench.cloud_prices import PRICES_READ_ON, UNIT_PRICES, service_of
from promptforge.bench.report import markdown_table, section

SECTION = "cloud"


def breakdown_rows(figures: CloudFigures) -> list[list[str]]:
    """One row per priced unit: service, unit, per prompt, unit price, USD per million prompts."""
    rows = []
    quantities, usd = figures.quantities, figures.usd
    for kind, price in UNIT_PRICES.items():
        rows.append(
            [
                service_of(kind),
                kind,
                f"{quantities.get(kind, 0.0) / figures.prompts:.4f}",
                f"{price:.3g}",
                f"{usd[kind] / figures.prompts * 1e6:.3f}",
            ]
        )
    rows.append(["**total**", "", "", "", f"**{figures.usd_per_million:.2f}**"])
    return rows


def hottest_documents(figures: CloudFigures, top: int = 3) -> str:
    """The ``top`` most-written documents: writes, per 1,000 prompts, per second of the run."""
    parts = []
    for path, count in figures.document_writes.most_common(top):
        name = path.rsplit("/documents/", 1)[-1]
        per_1k = count / figures.prompts * 1000
        per_second = count / max(figures.elapsed_seconds, 1e-9)
        parts.append(f"`{name}` {count:,} ({per_1k:.1f} per 1,000 prompts, {per_second:.2f}/s)")
    return "; ".join(parts)


HEADER = ["service", "unit", "per prompt", "USD per unit", "USD per 1M prompts"]


def report_section(figures: CloudFigures, command: str) -> str:
    """The ``cloud`` section of the benchmarks report."""
    services = ", ".join(f"{name} ${usd:.2f}" for name, usd in figures.by_service().items())
    body = "\n\n".join(
        [
            f"A {figures.prompts:,}-prompt job on the Google path (emulators, the four "
            f"functions metered at the client boundary), {figures.status} in "
            f"{figures.elapsed_seconds:.0f} s; list prices read on {PRICES_READ_ON} "
            "(`shared/promptforge/bench/cloud_prices.py`).",
            markdown_table(HEADER, breakdown_rows(figures)),
            f"By service, per million prompts: {services}.",
            "Most-written documents: " + hottest_documents(figures) + ". "
            f"Lost {figures.lost}, duplicated {figures.duplicates}.",
        ]
    )
    return section("Cloud cost per million prompts (bench cloud)", body, command)
