"""The benchmark's verdicts against the goals, and the Markdown report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from promptforge.sim.rates.metrics import Figures
from promptforge.sim.rates.runner import LABELS, ClientKind, Run
from promptforge.sim.rates.scenarios import Scenario

__all__ = ["Verdict", "judge", "render_report"]

HEADER_GOAL = 1.05
NO_HEADER_GOAL = 1.10
SHARE_GOAL = 0.02
NEAR_BASELINE = 1.05
EXEMPT = frozenset({"tiny-limit"})  # the makespan goal does not apply (reported anyway)


@dataclass(frozen=True)
class Verdict:
    """PromptForge's run of one scenario against each goal (``None``: not applicable)."""

    scenario: str
    goal: float
    makespan_ok: bool | None
    share_ok: bool
    beats_75: bool
    near_100: bool
    fewer_429: bool | None  # None: the 100 % baseline had no 429s to beat

    @property
    def passed(self) -> bool:
        """Every applicable goal met."""
        checks = [self.share_ok, self.beats_75, self.near_100]
        checks += [c for c in (self.makespan_ok, self.fewer_429) if c is not None]
        return all(checks)


def _figures(runs: Sequence[Run], kind: ClientKind) -> Figures | None:
    return next((run.figures for run in runs if run.kind is kind), None)


def _makespan(figures: Figures | None) -> float:
    if figures is None or figures.makespan is None:
        return float("inf")
    return figures.makespan


def _forge(scenario: Scenario, runs: Sequence[Run]) -> Figures:
    forge = _figures(runs, ClientKind.PROMPTFORGE)
    if forge is None:
        raise ValueError(f"{scenario.name}: no PromptForge run to judge")
    return forge


def judge(scenario: Scenario, runs: Sequence[Run]) -> Verdict:
    """How PromptForge's run compares with the goals and the baselines."""
    forge = _forge(scenario, runs)
    goal = HEADER_GOAL if scenario.headers else NO_HEADER_GOAL
    ratio = forge.ratio
    makespan_ok = None if scenario.name in EXEMPT else ratio is not None and ratio <= goal
    full = _figures(runs, ClientKind.BUCKET_100)
    told = _figures(runs, ClientKind.BUCKET_75)
    ours = _makespan(forge)
    fewer: bool | None = None
    if full is not None and full.limited > 0:
        fewer = forge.limited < full.limited
    return Verdict(
        scenario=scenario.name,
        goal=goal,
        makespan_ok=makespan_ok,
        share_ok=forge.share_429 <= SHARE_GOAL,
        beats_75=told is None or ours < _makespan(told),
        near_100=full is None or ours <= NEAR_BASELINE * _makespan(full),
        fewer_429=fewer,
    )


def _mark(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "**no**")


def _num(value: float | None, digits: int = 0, suffix: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}{suffix}"


def _ratio(figures: Figures) -> str:
    ratio = figures.ratio
    return "did not finish" if ratio is None else f"{ratio:.3f}"


def _goal_table(scenarios: Sequence[Scenario], results: Mapping[str, Sequence[Run]]) -> list[str]:
    lines = [
        "| scenario | T* (s) | PromptForge ÷ T* | goal | oracle ÷ T* | 429s | ≤ 2 % | "
        "faster than 75 % | within 5 % of 100 % | fewer 429s than 100 % |",
        "|---|---:|---:|---:|---:|---:|:-:|:-:|:-:|:-:|",
    ]
    for scenario in scenarios:
        runs = results[scenario.name]
        verdict = judge(scenario, runs)
        forge = _forge(scenario, runs)
        goal = f"≤ {verdict.goal:.2f}" + (" (exempt)" if scenario.name in EXEMPT else "")
        made = _ratio(forge) + (
            "" if verdict.makespan_ok is None else f" ({_mark(verdict.makespan_ok)})"
        )
        oracle = _figures(runs, ClientKind.ORACLE)
        floor = "—" if oracle is None else _ratio(oracle)
        lines.append(
            f"| {scenario.title} | {forge.ideal:,.0f} | {made} | {goal} | {floor} | "
            f"{forge.share_429:.2%} | {_mark(verdict.share_ok)} | {_mark(verdict.beats_75)} | "
            f"{_mark(verdict.near_100)} | {_mark(verdict.fewer_429)} |"
        )
    return lines


def _scenario_table(runs: Sequence[Run]) -> list[str]:
    lines = [
        "| client | makespan (s) | ÷ T* | 429s | 429 share | 90 % of limit after (s) | "
        "recovered after change (s) | wasted calls | failed prompts |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        f = run.figures
        lines.append(
            f"| {LABELS[run.kind]} | {_num(f.makespan)} | {_ratio(f)} | {f.limited:,} | "
            f"{f.share_429:.2%} | {_num(f.reach_90)} | {_num(f.recovery)} | {f.wasted:,} | "
            f"{f.failed:,} |"
        )
    return lines


def render_report(
    scenarios: Sequence[Scenario],
    results: Mapping[str, Sequence[Run]],
    *,
    preamble: Sequence[str] = (),
    plot_dir: str | None = None,
) -> str:
    """The Markdown report: the goals table, then one section per scenario."""
    lines = ["# Rate control benchmark", "", *preamble, "", "## Goals", ""]
    lines += _goal_table(scenarios, results)
    for scenario in scenarios:
        runs = results[scenario.name]
        model = scenario.provider
        lines += [
            "",
            f"## {scenario.title}",
            "",
            f"{scenario.workload.count:,} prompts; limits {model.limits.rpm:,} RPM, "
            f"{model.limits.tpm:,} TPM"
            + (
                f" (input {model.limits.input_tpm:,}, output {model.limits.output_tpm:,})"
                if model.limits.split_tokens
                else ""
            )
            + f"; latency median {model.latency_median:g} s (sigma {model.latency_sigma:g}); "
            f"limit headers: {'yes' if scenario.headers else 'no'}.",
            "",
            *_scenario_table(runs),
        ]
        if plot_dir is not None:
            lines += ["", f"![{scenario.name}]({plot_dir}/{scenario.name}.png)"]
    return "\n".join(lines) + "\n"
