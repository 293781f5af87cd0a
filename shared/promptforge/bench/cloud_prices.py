"""Google Cloud list prices (USD) that ``bench cloud`` multiplies its counts by: the one table.

Read on 2026-12-07 (UTC) from Google's public pricing pages, Tier 1 / US region, no
free tier, no committed-use discount:

- Firestore (Standard edition, regional database such as us-central1, which is what
  ``infra/`` creates by default: ``firestore_location`` null → the region):
  https://cloud.google.com/firestore/pricing — reads $0.03, writes $0.09, deletes
  $0.01 per 100,000 documents (a multi-region ``nam5``/``eur3`` database costs twice
  that: $0.06 / $0.18 / $0.02).
- Cloud Tasks: https://cloud.google.com/tasks/pricing — $0.40 per million billable
  operations (an API call or a push delivery attempt, per 32 KB chunk) after the
  first free million a month.
- Cloud Storage (Standard, regional): https://cloud.google.com/storage/pricing —
  class A $0.005 and class B $0.0004 per 1,000 operations; deletes free.
- Cloud Run functions (gen2 run on Cloud Run, request-based billing):
  https://cloud.google.com/run/pricing — $0.000024 per vCPU-second, $0.0000025 per
  GiB-second, $0.40 per million requests.

Function sizing mirrors ``infra/modules/promptforge/variables.tf`` (``function_config``
defaults): instance-seconds are handler seconds / concurrency (requests packed onto
instances at the configured concurrency), billed at the function's vCPU and memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PRICES_READ_ON = "2026-12-07"

UNIT_PRICES: dict[str, float] = {
    "firestore.read": 0.03 / 100_000,
    "firestore.write": 0.09 / 100_000,
    "firestore.delete": 0.01 / 100_000,
    "tasks.api": 0.40 / 1_000_000,
    "tasks.delivery": 0.40 / 1_000_000,
    "gcs.class_a": 0.005 / 1_000,
    "gcs.class_b": 0.0004 / 1_000,
    "run.requests": 0.40 / 1_000_000,
    "run.vcpu_seconds": 0.000024,
    "run.gib_seconds": 0.0000025,
}
"""USD per operation (or per vCPU-second / GiB-second)."""


@dataclass(frozen=True)
class Sizing:
    """A function's deployed size (``function_config`` in Terraform)."""

    vcpu: float
    gib: float
    concurrency: int


SIZING: dict[str, Sizing] = {
    "api": Sizing(1.0, 0.5, 80),
    "ingest": Sizing(1.0, 0.5, 10),
    "worker": Sizing(1.0, 1.0, 80),
    "controller": Sizing(1.0, 1.0, 8),
}

SERVICE_OF = {"firestore": "Firestore", "tasks": "Cloud Tasks", "gcs": "Cloud Storage"}


def billable_quantities(ops: Mapping[str, float]) -> dict[str, float]:
    """Summed meter counts → quantities per priced unit (``run.*`` folded over functions)."""
    quantities = {
        kind: float(ops.get(kind, 0)) for kind in UNIT_PRICES if not kind.startswith("run.")
    }
    requests = vcpu = gib = 0.0
    for name, size in SIZING.items():
        count = float(ops.get(f"run.{name}.requests", 0))
        instance_seconds = float(ops.get(f"run.{name}.handler_us", 0)) / 1e6 / size.concurrency
        requests += count
        vcpu += instance_seconds * size.vcpu
        gib += instance_seconds * size.gib
    quantities.update({"run.requests": requests, "run.vcpu_seconds": vcpu, "run.gib_seconds": gib})
    return quantities


def service_of(kind: str) -> str:
    """The service a priced unit belongs to."""
    return SERVICE_OF.get(kind.split(".", 1)[0], "Cloud Run functions")


def cost(quantities: dict[str, float]) -> dict[str, float]:
    """USD per priced unit."""
    return {kind: quantities.get(kind, 0.0) * price for kind, price in UNIT_PRICES.items()}
