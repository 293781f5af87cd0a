"""One error tree: every exception the library defines is a PromptForgeError drawn in errors.py."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import promptforge
from promptforge import errors
from promptforge.errors import PromptForgeError


def _library_errors() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(promptforge.__path__, "promptforge."):
        try:
            module = importlib.import_module(info.name)
        except ModuleNotFoundError as exc:
            # A dev tool that runs in its own environment (the Cloud Tasks emulator's).
            if (exc.name or "").startswith("promptforge"):
                raise
            continue
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                found[f"{module.__name__}.{name}"] = value
    return found


def test_every_library_exception_is_in_the_tree() -> None:
    outside = [
        name for name, cls in _library_errors().items() if not issubclass(cls, PromptForgeError)
    ]
    assert outside == []


def _drawing() -> dict[str, str]:
    """Each class the docstring draws, with the class drawn as its parent."""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in (errors.__doc__ or "").splitlines():
        if "── " in line:
            depth = line.index("── ")
            name = line[depth + 3 :].split()[0]
        elif line.strip() == "PromptForgeError":
            depth, name = -1, "PromptForgeError"
        else:
            continue
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[name] = stack[-1][1] if stack else ""
        stack.append((depth, name))
    return parents


def test_the_docstring_draws_every_public_exception_under_its_base() -> None:
    public = {c.__name__: c for c in _library_errors().values() if not c.__name__.startswith("_")}
    drawing = _drawing()
    assert set(drawing) == set(public)
    for name, parent in drawing.items():
        if parent:
            assert public[parent] in public[name].__bases__, f"{name} is not drawn under its base"
