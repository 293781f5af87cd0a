"""How long the simulator takes to answer: lognormal, so most calls are quick and a few are slow.

A lognormal with median ``m`` and spread ``sigma`` has its 99th percentile at
``m * exp(2.326 * sigma)``: with ``sigma=0.5`` about 3x the median, with ``sigma=1.2``
about 16x, the long tail real providers show under load. Draws come from the caller's
seeded RNG, so a run's latencies repeat with its seed.
"""

from __future__ import annotations

import math
import random


def draw_latency(rng: random.Random, median: float, sigma: float, time_scale: float = 1.0) -> float:
    """One latency in real seconds (simulated seconds divided by ``time_scale``); 0 if median is."""
    draw = rng.gauss(0.0, 1.0)  # always drawn, so the RNG's sequence does not depend on median
    if median <= 0:
        return 0.0
    return median * math.exp(sigma * draw) / time_scale
