"""One PNG per scenario: achieved rate against the true limit over time, 429s marked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from promptforge.sim.rates.metrics import rolling_mean
from promptforge.sim.rates.runner import LABELS, ClientKind, Run
from promptforge.sim.rates.scenarios import Scenario

__all__ = ["plot_scenario"]

_SMOOTH = 10  # seconds of the rolling mean of successes
_HEADROOM = 3.0  # the rate axis stops at this many times the highest limit
_SPAN = 1.5  # the time axis stops at this many times PromptForge's makespan (or T*)
_STYLE = {
    ClientKind.PROMPTFORGE: {"color": "#1f77b4", "linewidth": 1.8, "zorder": 4},
    ClientKind.BUCKET_100: {"color": "#2ca02c", "linewidth": 0.9, "alpha": 0.8},
    ClientKind.BUCKET_75: {"color": "#9467bd", "linewidth": 0.9, "alpha": 0.8},
    ClientKind.POOL: {"color": "#ff7f0e", "linewidth": 0.9, "alpha": 0.7},
    ClientKind.ORACLE: {"color": "#7f7f7f", "linewidth": 0.9, "alpha": 0.8, "linestyle": ":"},
}


def plot_scenario(scenario: Scenario, runs: Sequence[Run], path: Path) -> None:
    """Write ``path``: requests/s over time per client, the limit, PromptForge's 429s."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 5.6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    longest = max(runs, key=lambda r: len(r.limits))
    seconds = list(range(len(longest.limits)))
    top.plot(seconds, [v * 60 for v in longest.limits], "k--", linewidth=1.2, label="true limit")
    for run in runs:
        achieved = [v * 60 for v in rolling_mean([float(x) for x in run.successes], _SMOOTH)]
        top.plot(range(len(achieved)), achieved, label=LABELS[run.kind], **_STYLE[run.kind])
        if run.kind is ClientKind.PROMPTFORGE:
            marks = [t for t, n in enumerate(run.limited) if n]
            heights = [achieved[t] for t in marks if t < len(achieved)]
            top.scatter(
                marks[: len(heights)],
                heights,
                s=9,
                color="#d62728",
                zorder=5,
                label="PromptForge 429s",
            )
            bottom.bar(
                range(len(run.limited)),
                run.limited,
                width=1.0,
                color="#d62728",
                label="PromptForge",
            )
    # Baselines that dump a minute of limit at once, or never finish, would flatten the rest.
    top.set_ylim(0, _HEADROOM * max(longest.limits) * 60)
    ends = [runs[0].figures.ideal]
    ends += [
        r.figures.makespan
        for r in runs
        if r.kind is ClientKind.PROMPTFORGE and r.figures.makespan is not None
    ]
    top.set_xlim(0, min(len(seconds), _SPAN * max(ends)))
    top.set_ylabel("successful requests / min\n(10 s mean)")
    top.set_title(scenario.title, fontsize=11)
    top.legend(fontsize=7, loc="upper right", ncol=2)
    top.grid(alpha=0.3)
    totals = "; ".join(f"{LABELS[r.kind]} {r.figures.limited:,}" for r in runs)
    bottom.set_title(f"429s in all: {totals}", fontsize=8)
    bottom.set_ylabel("PromptForge\n429s / s")
    bottom.set_xlabel("seconds since the job started")
    bottom.legend(fontsize=7, loc="upper right")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
