"""Build each Cloud Function's deployable source folder under ``build/functions/<name>/``.

A folder holds the function's ``main.py`` and ``requirements.txt`` and the part of the
``promptforge`` library it imports, vendored as source beside them (functions-framework
puts the source folder on ``sys.path``), so Cloud Build installs only the pinned
third-party requirements. Only the modules ``main.py`` reaches through ``import``
statements (read from the source, at any depth, lazy imports included) are copied, with
their packages' ``__init__.py`` and data files: the provider simulator, the rate
simulation, the benchmarks and the local stand-ins never ship.
Usage: ``python scripts/package_functions.py [name ...] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("api", "ingest", "worker", "controller")
LIBRARY = ROOT / "shared" / "promptforge"
_DOTTED = re.compile(r"promptforge(\.[a-z_][a-z0-9_]*)+")


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
    for relative in library_files(source / "main.py"):
        destination = target / "promptforge" / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(LIBRARY / relative, destination)
    return target


def imported_modules(entry: Path) -> set[str]:
    """Every ``promptforge`` module ``entry`` imports, directly or through other modules.

    An import is an ``import`` statement anywhere in a module, or a module's dotted name
    as a string (``importlib.import_module`` of a provider adapter, ``resources.files``).
    """
    seen: set[str] = set()
    pending = sorted(_imports(entry))
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        path = _module_path(module)
        if path is None:
            continue  # a name imported from a package (a class, a function): not a module
        seen.add(module)
        pending.extend(_imports(path) - seen)
    return seen


def library_files(entry: Path) -> list[Path]:
    """The library files a function needs: its modules, their packages, the data they name."""
    modules = imported_modules(entry)
    files: set[Path] = set()
    for module in modules:
        parts = module.split(".")[1:]
        for depth in range(len(parts)):  # every enclosing package's __init__.py
            init = LIBRARY.joinpath(*parts[:depth], "__init__.py")
            if init.exists():
                files.add(init)
        path = _module_path(module)
        if path is not None:
            files.add(path)
    named = set().union(*(_strings(path) for path in set(files)))
    for data in _data_files():
        if data.name in named:  # read by name: resources.files(...).joinpath("models.json")
            files.update({data, data.parent / "__init__.py"} & _existing(data.parent))
    return sorted(path.relative_to(LIBRARY) for path in files)


def _tree(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def _imports(path: Path) -> set[str]:
    """``promptforge.*`` names a module imports (``from a import b`` gives ``a`` and ``a.b``)."""
    names: set[str] = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    names.update(name for name in _strings(path) if _DOTTED.fullmatch(name))
    return {name for name in names if name == "promptforge" or name.startswith("promptforge.")}


def _strings(path: Path) -> set[str]:
    return {
        node.value
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def _module_path(module: str) -> Path | None:
    base = LIBRARY.joinpath(*module.split(".")[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _data_files() -> list[Path]:
    """Every file of the library that is not Python source or bytecode."""
    return [
        path
        for path in LIBRARY.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix not in (".py", ".pyc", ".pyo")
    ]


def _existing(folder: Path) -> set[Path]:
    return {path for path in folder.iterdir() if path.is_file()}


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
