"""A small read-only model of a Terraform tree parsed with python-hcl2, for structural tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

_QUOTED = re.compile(r'^"(.*)"$', re.DOTALL)
_NOISE = {"__is_block__", "__comments__", "__inline_comments__"}


def unquote(value: Any) -> Any:
    """A string literal without its quotes; expressions (``${...}``) and non-strings unchanged."""
    if isinstance(value, str):
        match = _QUOTED.match(value)
        if match:
            return match.group(1)
    return value


def blocks(value: Any) -> list[dict[str, Any]]:
    """The nested blocks stored under one key (python-hcl2 keeps them as a list of dicts)."""
    if isinstance(value, list):
        return [b for b in value if isinstance(b, dict)]
    return []


def attributes(body: dict[str, Any]) -> dict[str, Any]:
    """A block body without the parser's bookkeeping keys."""
    return {k: v for k, v in body.items() if k not in _NOISE}


def strings(value: Any) -> Iterator[str]:
    """Every string anywhere inside a parsed value (attribute values, nested blocks, lists)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in _NOISE:
                yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


@dataclass(frozen=True)
class Block:
    """One top-level block: ``resource "type" "name"``, ``module "name"``, ``variable "name"``..."""

    file: Path
    kind: str
    labels: tuple[str, ...]
    body: dict[str, Any]

    @property
    def directory(self) -> Path:
        """The Terraform module (folder) the block belongs to."""
        return self.file.parent

    def get(self, key: str) -> Any:
        """An attribute's value with string quotes removed (None when absent)."""
        return unquote(self.body.get(key))


@dataclass(frozen=True)
class Tree:
    """All top-level blocks of every ``.tf`` file under a root folder."""

    root: Path
    items: tuple[Block, ...]

    def of(self, kind: str, *labels: str) -> list[Block]:
        """Blocks of one kind whose first labels match."""
        return [b for b in self.items if b.kind == kind and b.labels[: len(labels)] == labels]

    def in_dir(self, relative: str) -> list[Block]:
        """Blocks of the module in ``root / relative``."""
        return [b for b in self.items if b.directory == self.root / relative]


def _labelled(
    kind: str, value: Any, depth: int
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """Walk ``{"label": {"label": body}}`` nesting ``depth`` levels deep."""
    for entry in blocks(value):
        for label, inner in entry.items():
            if label in _NOISE:
                continue
            name = str(unquote(label))
            if depth == 1:
                yield (name,), inner
            else:
                for rest, body in _labelled(kind, [inner], depth - 1):
                    yield (name, *rest), body


_LABEL_DEPTH = {"resource": 2, "data": 2, "module": 1, "variable": 1, "output": 1, "provider": 1}


def load_tree(root: Path) -> Tree:
    """Parse every ``.tf`` file under ``root`` (skipping ``.terraform`` caches)."""
    items: list[Block] = []
    for path in sorted(root.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        with path.open(encoding="utf-8") as handle:
            document = hcl2.load(handle)
        for kind, value in document.items():
            depth = _LABEL_DEPTH.get(kind)
            if depth is None:
                items.extend(Block(path, kind, (), b) for b in blocks(value))
                continue
            items.extend(
                Block(path, kind, labels, body) for labels, body in _labelled(kind, value, depth)
            )
    return Tree(root, tuple(items))


_EACH_VALUE = re.compile(r"^\$\{each\.value\.(\w+)\}$")
_FOR_EACH_LOCAL = re.compile(r"^\$\{local\.(\w+)\}$")


def function_calls(tree: Tree) -> list[Block]:
    """Calls of ``modules/function``, one per function: a ``for_each`` call is expanded.

    ``for_each = local.NAME`` is read from the locals of the calling module; in each
    instance ``each.key`` becomes the key and ``each.value.X`` the local's ``X`` (an
    attribute whose value is null is left out, as a module input left unset).
    """
    calls: list[Block] = []
    for call in tree.of("module"):
        if not str(call.get("source")).endswith("/function"):
            continue
        each = call.body.get("for_each")
        if each is None:
            calls.append(call)
            continue
        match = _FOR_EACH_LOCAL.match(str(each))
        if match is None:
            raise ValueError(f"{call.file}: for_each must be a local map, got {each!r}")
        instances = module_locals(tree, call.directory)[match.group(1)]
        for key, value in instances.items():
            body = _instance(call.body, key, value)
            calls.append(Block(call.file, "module", (key,), body))
    return calls


def module_locals(tree: Tree, directory: Path) -> dict[str, Any]:
    """Every ``locals`` entry of the module in ``directory``."""
    merged: dict[str, Any] = {}
    for block in tree.items:
        if block.kind == "locals" and block.directory == directory:
            merged.update(block.body)
    return merged


def _instance(body: dict[str, Any], key: str, value: dict[str, Any]) -> dict[str, Any]:
    expanded: dict[str, Any] = {}
    for name, item in body.items():
        if name != "for_each":
            resolved = _resolve(item, key, value)
            if resolved is not None:
                expanded[name] = resolved
    return expanded


def _resolve(item: Any, key: str, value: dict[str, Any]) -> Any:
    """``each.value.X`` → the local's ``X``; ``each.key`` inside an expression → the key."""
    if not isinstance(item, str):
        return item
    field = _EACH_VALUE.match(item)
    if field is not None:
        return value.get(field.group(1))
    return item.replace("[each.key]", f".{key}").replace("${each.key}", key)
