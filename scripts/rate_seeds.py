"""A short rate case (issue 21) in the simulation over many seeds, or one seed's trace.

Each seed runs the phase-matched twin of the wall-clock harness (``des_twin(...,
matched=True)``: the controller's steps at ``tick_phase(seed)``, the stand-in's latency
draws), which is the model that predicts the wall clock within 5 %. Prints the largest
makespan ÷ T*, every seed's ratio and its 429s out of calls; with ``--trace SEED``, that
seed's applied rates and refusals over time instead (up to ``--until`` seconds).

    .venv/bin/python scripts/rate_seeds.py gemini-60 --seeds 15
    .venv/bin/python scripts/rate_seeds.py gemini-window --trace 0 --until 40
"""

from __future__ import annotations

import argparse

from promptforge.sim.rates.cases import SHORT_CASES
from promptforge.sim.rates.trace import ADMITTED, CallTrace
from promptforge.sim.rates.wallclock import WallclockResult, case_prompts, des_twin


def _run(case_name: str, seed: int, trace: CallTrace | None = None) -> WallclockResult:
    case = SHORT_CASES[case_name]
    return des_twin(case, case_prompts(case, seed), seed, trace, matched=True)


def _print_trace(case_name: str, seed: int, until: float) -> None:
    trace = CallTrace()
    result = _run(case_name, seed, trace)
    print(f"{case_name} seed {seed}: {result.ratio:.3f} x T*, {result.limited}/{result.calls}")
    events = [(at, f"rate {rate:.3f}") for at, rate in trace.rates]
    events += [(at, outcome) for at, outcome in trace.calls if outcome != ADMITTED]
    for at, what in sorted(events):
        if at <= until:
            print(f"{at:8.3f}  {what}")


def main() -> None:
    """Parse the arguments and print the sweep or the trace."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=sorted(SHORT_CASES))
    parser.add_argument("--seeds", type=int, default=15, help="seeds 0..N-1 (default 15)")
    parser.add_argument("--trace", type=int, default=None, help="print this seed's trace")
    parser.add_argument("--until", type=float, default=float("inf"), help="trace up to (s)")
    args = parser.parse_args()
    if args.trace is not None:
        _print_trace(args.case, args.trace, args.until)
        return
    runs = [_run(args.case, seed) for seed in range(args.seeds)]
    ratios = [round(run.ratio, 3) for run in runs]
    print(f"{args.case}: max {max(ratios)} x T*; per seed {ratios}")
    print("429s/calls per seed", [f"{run.limited}/{run.calls}" for run in runs])


if __name__ == "__main__":
    main()
