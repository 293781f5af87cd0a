"""Build each Cloud Function's deployable source folder under ``build/functions/<name>/``.

A folder holds the function's ``main.py`` and ``requirements.txt`` and the
``promptforge`` library vendored as source beside them (functions-framework puts the
source folder on ``sys.path``), so Cloud Build installs only the pinned third-party
requirements. Usage: ``python scripts/package_functions.py [name ...] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("api", "ingest", "worker", "controller")
LIBRARY = ROOT / "shared" / "promptforge"
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")


def package(name: str, out: Path) -> Path:
    """Write ``out/<name>/`` (replacing it) and return it."""
    if name not in FUNCTIONS:
        raise ValueError(f"unknown function {name!r}; expected one of {', '.join(FUNCTIONS)}")
    source = ROOT / "functions" / name
    target = out / name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for filename in ("main.py", "requirements.txt"):
        shutil.copy2(source / filename, target / filename)
    shutil.copytree(LIBRARY, target / "promptforge", ignore=_SKIP)
    return target


def main(argv: list[str] | None = None) -> int:
    """Package the named functions (all four by default)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(FUNCTIONS), help="functions to build")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "functions")
    args = parser.parse_args(argv)
    for name in args.names:
        print(package(name, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
