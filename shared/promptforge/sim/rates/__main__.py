"""``python -m promptforge.sim.rates``: the rate-control benchmark (``promptforge bench rate``)."""

from __future__ import annotations

import argparse
import sys

from promptforge.sim.rates.cli import add_arguments, run


def main() -> int:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(
        prog="python -m promptforge.sim.rates",
        description="Rate-control benchmark: the controller against modelled providers.",
    )
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
