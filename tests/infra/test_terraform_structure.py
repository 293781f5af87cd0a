"""Security properties of infra/, read from the HCL itself (no provider or network needed).

Each rule is a private function returning the violations it finds; the tests run every rule on the
real tree (expecting none) and on a small broken tree (expecting the violation), so no rule can
pass by looking at nothing.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from tests.infra._hcl import (
    Block,
    Tree,
    attributes,
    blocks,
    function_calls,
    load_tree,
    strings,
    unquote,
)

INFRA = Path(__file__).resolve().parents[2] / "infra"
FUNCTION_MODULE = "modules/function"
FUNCTIONS = {"api", "ingest", "worker", "controller"}
PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}
PRIMITIVE_ROLES = re.compile(r"\broles/(owner|editor|viewer)\b")


@cache
def _infra() -> Tree:
    return load_tree(INFRA)


def _function_calls(tree: Tree) -> list[Block]:
    return function_calls(tree)


def _public_bindings(tree: Tree) -> list[str]:
    """Bindings to allUsers/allAuthenticatedUsers other than the API's gated invoker."""
    problems = []
    for block in tree.of("resource"):
        found = PUBLIC_MEMBERS & {str(unquote(s)) for s in strings(attributes(block.body))}
        if not found:
            continue
        gated = (
            block.labels[0] == "google_cloud_run_service_iam_member"
            and block.directory == tree.root / FUNCTION_MODULE
            and block.body.get("count") == "${var.public ? 1 : 0}"
        )
        if not gated:
            problems.append(f"{'.'.join(block.labels)} grants {sorted(found)}")
    public_calls = [m.labels[0] for m in _function_calls(tree) if m.body.get("public") is True]
    if public_calls != ["api"]:
        problems.append(f"functions with public = true: {public_calls} (only the api may be)")
    for call in _function_calls(tree):
        if call.body.get("public") not in (None, True, False):
            problems.append(f"module {call.labels[0]}: public must be a literal, not an expression")
    return problems


def _ingress_problems(tree: Tree) -> list[str]:
    """Every function's ingress must follow var.public (internal-only unless public)."""
    problems = []
    for fn in tree.of("resource", "google_cloudfunctions2_function"):
        for config in blocks(fn.body.get("service_config")):
            ingress = unquote(config.get("ingress_settings"))
            if ingress != '${var.public ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"}':
                problems.append(f"{fn.labels[1]}: ingress_settings {ingress!r} ignores var.public")
    return problems


def _service_account_problems(tree: Tree) -> list[str]:
    """Each function runs as the account its module creates, and no two calls share an id."""
    problems = []
    functions = tree.of("resource", "google_cloudfunctions2_function")
    if not functions:
        problems.append("no google_cloudfunctions2_function found")
    for fn in functions:
        accounts = [c.get("service_account_email") for c in blocks(fn.body.get("service_config"))]
        if fn.directory != tree.root / FUNCTION_MODULE:
            problems.append(f"{fn.labels[1]}: functions must be made through modules/function")
        if accounts != ["${google_service_account.this.email}"]:
            problems.append(f"{fn.labels[1]}: runs as {accounts}, not its own account")
        if "for_each" in fn.body or "count" in fn.body:
            problems.append(f"{fn.labels[1]}: one module instance must be one function")
    own = [
        a
        for a in tree.of("resource", "google_service_account", "this")
        if a.directory == tree.root / FUNCTION_MODULE
    ]
    if [a.get("account_id") for a in own] != ["${var.account_id}"]:
        problems.append("modules/function must create exactly one account from var.account_id")
    calls = _function_calls(tree)
    if {c.labels[0] for c in calls} != FUNCTIONS or len(calls) != len(FUNCTIONS):
        problems.append(
            f"function module calls {sorted(c.labels[0] for c in calls)} != {sorted(FUNCTIONS)}"
        )
    ids = [c.get("account_id") for c in calls]
    if len(set(ids)) != len(ids) or any(i is None for i in ids):
        problems.append(f"function account ids are not distinct: {ids}")
    return problems


def _bucket_problems(tree: Tree) -> list[str]:
    """Buckets: uniform access and public access prevention enforced, no exceptions."""
    problems = []
    for bucket in tree.of("resource", "google_storage_bucket"):
        name = bucket.labels[1]
        if bucket.get("uniform_bucket_level_access") is not True:
            problems.append(f"bucket {name}: uniform_bucket_level_access is not true")
        if bucket.get("public_access_prevention") != "enforced":
            problems.append(f"bucket {name}: public_access_prevention is not enforced")
    return problems


def _primitive_role_problems(tree: Tree) -> list[str]:
    """No owner/editor/viewer anywhere, whatever the resource."""
    return [
        f"{b.file.name}: {'.'.join(b.labels)} uses {s}"
        for b in tree.items
        for s in strings(attributes(b.body))
        if PRIMITIVE_ROLES.search(s)
    ]


def _variable_problems(tree: Tree) -> list[str]:
    """Every variable is typed and described; each file lists them alphabetically."""
    problems = []
    by_file: dict[Path, list[str]] = {}
    for var in tree.of("variable"):
        name = var.labels[0]
        by_file.setdefault(var.file, []).append(name)
        if "type" not in var.body:
            problems.append(f"variable {name} ({var.file.parent.name}) has no type")
        if not str(var.get("description") or "").strip():
            problems.append(f"variable {name} ({var.file.parent.name}) has no description")
    problems += [
        f"{f}: variables not in alphabetical order"
        for f, names in by_file.items()
        if names != sorted(names)
    ]
    return problems


def _root_problems(tree: Tree, env: str) -> list[str]:
    """An environment root calls the module and keeps its backend settings out of the code."""
    problems = []
    root = f"envs/{env}"
    calls = [b for b in tree.in_dir(root) if b.kind == "module"]
    if [(c.get("source"), c.get("environment")) for c in calls] != [
        ("../../modules/promptforge", env)
    ]:
        problems.append(f"{root} must call ../../modules/promptforge once with environment = {env}")
    backends = [
        (label, body)
        for t in tree.in_dir(root)
        if t.kind == "terraform"
        for backend in blocks(t.body.get("backend"))
        for label, body in backend.items()
        if label not in ("__is_block__", "__comments__")
    ]
    if [unquote(label) for label, _ in backends] != ["gcs"]:
        problems.append(f'{root} must declare exactly one backend "gcs"')
    for _, body in backends:
        if attributes(body):
            problems.append(
                f"{root}: backend settings {sorted(attributes(body))} belong in -backend-config"
            )
    return problems


def _write(tmp_path: Path, relative: str, text: str) -> None:
    path = tmp_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_only_the_api_is_public() -> None:
    assert _public_bindings(_infra()) == []
    assert _ingress_problems(_infra()) == []


def test_every_function_runs_as_its_own_service_account() -> None:
    assert _service_account_problems(_infra()) == []


def test_buckets_are_private() -> None:
    assert _bucket_problems(_infra()) == []
    assert len(_infra().of("resource", "google_storage_bucket")) == 3


def test_no_primitive_roles_are_granted() -> None:
    assert _primitive_role_problems(_infra()) == []


def test_variables_are_typed_described_and_sorted() -> None:
    assert _variable_problems(_infra()) == []


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_environment_roots_call_the_module_with_a_gcs_backend(env: str) -> None:
    assert _root_problems(_infra(), env) == []


def test_rules_catch_a_broken_tree(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "modules/function/main.tf",
        'resource "google_service_account" "this" { account_id = "fixed" }\n'
        'resource "google_cloudfunctions2_function" "this" {\n'
        "  service_config {\n    service_account_email = var.shared_email\n"
        '    ingress_settings = "ALLOW_ALL"\n  }\n}\n',
    )
    _write(
        tmp_path,
        "modules/app/main.tf",
        'module "api" {\n  source = "../function"\n  account_id = "a"\n  public = true\n}\n'
        'module "worker" {\n  source = "../function"\n  account_id = "a"\n  public = true\n}\n'
        'resource "google_storage_bucket" "open" { uniform_bucket_level_access = false }\n'
        'resource "google_storage_bucket_iam_member" "leak" {\n'
        '  role = "roles/storage.objectViewer"\n  member = "allUsers"\n}\n'
        'resource "google_project_iam_member" "boss" {\n'
        '  role = "roles/editor"\n  member = "x"\n}\n'
        'variable "loose" {}\n',
    )
    _write(
        tmp_path,
        "envs/dev/main.tf",
        'terraform {\n  backend "gcs" {\n    bucket = "state"\n  }\n}\n'
        'module "app" {\n  source = "../../modules/app"\n  environment = "prod"\n}\n',
    )
    broken = load_tree(tmp_path)
    assert _public_bindings(broken) == [
        "google_storage_bucket_iam_member.leak grants ['allUsers']",
        "functions with public = true: ['api', 'worker'] (only the api may be)",
    ]
    assert _ingress_problems(broken) == ["this: ingress_settings 'ALLOW_ALL' ignores var.public"]
    assert _service_account_problems(broken) == [
        "this: runs as ['${var.shared_email}'], not its own account",
        "modules/function must create exactly one account from var.account_id",
        "function module calls ['api', 'worker'] != ['api', 'controller', 'ingest', 'worker']",
        "function account ids are not distinct: ['a', 'a']",
    ]
    assert _bucket_problems(broken) == [
        "bucket open: uniform_bucket_level_access is not true",
        "bucket open: public_access_prevention is not enforced",
    ]
    assert _primitive_role_problems(broken) == [
        'main.tf: google_project_iam_member.boss uses "roles/editor"'
    ]
    assert _variable_problems(broken) == [
        "variable loose (app) has no type",
        "variable loose (app) has no description",
    ]
    assert _root_problems(broken, "dev") == [
        "envs/dev must call ../../modules/promptforge once with environment = dev",
        "envs/dev: backend settings ['bucket'] belong in -backend-config",
    ]
