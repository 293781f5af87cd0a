"""Task names and targets: one table, and names that never change between releases.

A task name is how both queues deduplicate a replayed enqueue; a release that changed
how a name is derived would let a task queued before the deploy run twice after it.
The expected names are pinned.
"""

from __future__ import annotations

import ast
from pathlib import Path

from promptforge.core import tasknames
from promptforge.core.tasknames import TaskTarget

LIBRARY = Path(tasknames.__file__).resolve().parents[1]


def test_names_are_pinned() -> None:
    assert tasknames.prompt_task_name("j", "p", 3) == "p-fb84de1559e21f4db7ebc2ec95c5a594b4ad9c3a"
    assert tasknames.slice_task_name("b", "o", 7, 2) == "s-2571ef2dccc045502aab46150b4f6dad64339055"
    assert tasknames.control_task_name("k", 42) == "c-0dc20a5f1c0639bb5c2d7fd88a14a6fcf8121ae2"
    assert tasknames.ingest_task_name("b", "o", 5) == "i-e7a4e86f2a2012292f08ae5543bc42d63b6bf3f2"
    assert tasknames.finalize_task_name("j") == "f-00e1655b1f3c4b33494940f558e25a6d3cc7519b"
    expire = "e-4b176fe11fa6ecb8bc38d4e693c5c76680de6729"
    assert tasknames.expire_task_name("j") == expire
    assert tasknames.expire_task_name("j", again=True) == f"{expire}-again"


def test_every_task_is_addressed_through_the_table() -> None:
    # A bare target string is a second table that drifts from this one: given to a task
    # (Task(target="worker"), or positionally as Task/Delivery's second argument), kept
    # in a constant named *TARGET*, or used as a key of a runtime's routes.
    strays = []
    for path in LIBRARY.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            strays += [f"{path.relative_to(LIBRARY)}:{v.lineno}" for v in _target_strings(node)]
    assert strays == []


def _target_strings(node: ast.AST) -> list[ast.expr]:
    given: list[ast.expr] = []
    if isinstance(node, ast.Call):
        given += [k.value for k in node.keywords if k.arg == "target"]
        if _called(node) in {"Task", "Delivery"}:
            given += node.args[1:2]
    elif isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if any(isinstance(t, ast.Name) and "TARGET" in t.id for t in targets) and node.value:
            given += [n for n in ast.walk(node.value) if isinstance(n, ast.Constant)]
    elif isinstance(node, ast.FunctionDef) and node.name.endswith("routes"):
        for inner in ast.walk(node):
            if isinstance(inner, ast.Dict):
                given += [k for k in inner.keys if k is not None]
    return [value for value in given if _named(value)]


def _called(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def _named(value: ast.expr) -> bool:
    return isinstance(value, ast.Constant) and value.value in set(TaskTarget)
