"""One name per idea: no two public classes of the library share a name.

Two ``Decision`` classes (the controller's, the simulator's limiter's) or two
``PromptForgeClient`` classes make every import a question of which one is meant.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import promptforge

ROOT = Path(promptforge.__file__).resolve().parent


def test_public_class_names_are_unique() -> None:
    places: defaultdict[str, list[str]] = defaultdict(list)
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.parse(path.read_text("utf-8")).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                places[node.name].append(str(path.relative_to(ROOT)))
    assert {name: where for name, where in places.items() if len(where) > 1} == {}
