"""The prompts of a simulated job: token counts drawn once from a seed."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

# Output lengths: gamma with shape 4 (coefficient of variation 0.5), as the simulator draws.
_OUTPUT_SHAPE = 4.0


@dataclass(frozen=True, slots=True)
class Prompt:
    """One prompt: what it sends, what it will generate, and its ``max_tokens`` (if set)."""

    index: int
    input_tokens: int
    output_tokens: int
    max_tokens: int | None


@dataclass(frozen=True)
class WorkloadSpec:
    """How many prompts and how long: lognormal inputs, gamma outputs capped at ``max_tokens``."""

    count: int
    input_median: float = 60.0
    input_sigma: float = 0.4
    output_mean: float = 120.0
    output_shape: float = _OUTPUT_SHAPE
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.count <= 0:
            raise ValueError(f"count must be positive, got {self.count}")
        if self.input_median <= 0 or self.output_mean <= 0 or self.output_shape <= 0:
            raise ValueError("input_median, output_mean and output_shape must be positive")


def make_prompts(spec: WorkloadSpec, seed: int) -> list[Prompt]:
    """The prompts of ``spec``, the same for the same seed."""
    rng = random.Random(f"workload|{seed}")
    prompts = []
    for index in range(spec.count):
        tokens_in = max(1, round(spec.input_median * math.exp(spec.input_sigma * rng.gauss())))
        wanted = max(
            1, round(rng.gammavariate(spec.output_shape, spec.output_mean / spec.output_shape))
        )
        tokens_out = wanted if spec.max_tokens is None else min(wanted, spec.max_tokens)
        prompts.append(Prompt(index, tokens_in, tokens_out, spec.max_tokens))
    return prompts
