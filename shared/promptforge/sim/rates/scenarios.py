"""The ten benchmark scenarios: providers, limits, workloads, and what the baselines are told.

The scenarios are data: ``promptforge/data/rate_scenarios.json``, read here once. Each
is sized so the ideal run (T*) lasts at least ten minutes (the tiny limit an hour: see
its note there). ``scaled`` shrinks the prompt count (for tests and quick looks) without
changing the limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from promptforge.data import load_json
from promptforge.sim.providers.config import LimitSpec
from promptforge.sim.rates.provider import Background, ProviderModel
from promptforge.sim.rates.signals import Style
from promptforge.sim.rates.workload import WorkloadSpec

__all__ = ["SCENARIOS", "Scenario", "get_scenario", "load_scenarios"]


@dataclass(frozen=True)
class Scenario:
    """A provider, a job, and the limits a user would tell a token-bucket client."""

    name: str
    title: str
    provider: ProviderModel
    workload: WorkloadSpec
    told_rpm: float
    told_tpm: float
    change_at: float | None = None  # when the limit moves, for the recovery figure
    peak_rate: float = 450.0  # the operator's PROMPTFORGE_KEY_PEAK_RATE: sizes the key's queues

    @property
    def headers(self) -> bool:
        """Whether the provider states its limits (the 1.05 goal) or not (1.10)."""
        return self.provider.has_headers

    def scaled(self, factor: float) -> Scenario:
        """The same scenario with ``factor`` times the prompts (and changes moved to match)."""
        count = max(1, round(self.workload.count * factor))
        changes = tuple((at * factor, spec) for at, spec in self.provider.changes)
        background = tuple(
            replace(b, start=b.start * factor, end=b.end * factor) for b in self.provider.background
        )
        provider = replace(self.provider, changes=changes, background=background)
        return replace(
            self,
            workload=replace(self.workload, count=count),
            provider=provider,
            change_at=None if self.change_at is None else self.change_at * factor,
        )


def _limits(data: Mapping[str, Any]) -> LimitSpec:
    return LimitSpec.from_dict(dict(data))


def _provider(data: Mapping[str, Any]) -> ProviderModel:
    fields = dict(data)
    changes = tuple((float(c["at"]), _limits(c["limits"])) for c in fields.pop("changes", ()))
    background = tuple(Background(**b) for b in fields.pop("background", ()))
    style = Style(fields.pop("style"))
    limits = _limits(fields.pop("limits"))
    return ProviderModel(style, limits, changes=changes, background=background, **fields)


def _scenario(data: Mapping[str, Any]) -> Scenario:
    fields = {k: v for k, v in data.items() if k != "note"}
    provider = _provider(fields.pop("provider"))
    workload = WorkloadSpec(**fields.pop("workload"))
    return Scenario(provider=provider, workload=workload, **fields)


def load_scenarios(name: str = "rate_scenarios.json") -> dict[str, Scenario]:
    """The scenarios of the shipped data file ``name``, by scenario name, in file order."""
    scenarios: dict[str, Scenario] = {}
    for scenario in map(_scenario, load_json(name)["scenarios"]):
        if scenario.name in scenarios:
            raise ValueError(f"{name}: scenario {scenario.name!r} is listed twice")
        scenarios[scenario.name] = scenario
    return scenarios


SCENARIOS: dict[str, Scenario] = load_scenarios()


def get_scenario(name: str) -> Scenario:
    """A scenario by name (``ValueError`` listing the names otherwise)."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(
            f"unknown scenario {name!r}; expected one of {sorted(SCENARIOS)}"
        ) from None
