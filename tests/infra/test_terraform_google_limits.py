"""What Google enforces and the emulators do not, in infra/: TTLs, fixed queues, capacity, locks.

- Firestore TTL policies on every ``expires_at`` the job store writes (from the index file);
- the control queue is Terraform's, with the settings ``core.queues`` gives it, and no
  function but the controller may create queues;
- per environment, the worker can serve every dispatch a rate key's queues may hold at once
  (instances x concurrency), as the module's precondition demands, and so can the controller
  for the control queue;
- each environment root commits a provider lock file that pins what ``versions.tf`` allows.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from promptforge.core.deps import CONTROL_QUEUE
from promptforge.core.queues import CONTROL_QUEUE_CONFIG
from promptforge.gcp._firestore_layout import EXPIRES_AT
from promptforge.settings import Settings
from tests.infra._hcl import Tree, blocks, load_tree, strings, unquote

INFRA = Path(__file__).resolve().parents[2] / "infra"
INDEX_FILE = INFRA.parent / "shared" / "promptforge" / "gcp" / "firestore_indexes.json"
ENVS = ("dev", "prod")


@cache
def _infra() -> Tree:
    return load_tree(INFRA)


def _module_locals() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in _infra().in_dir("modules/promptforge"):
        if block.kind == "locals":
            merged.update(block.body)
    return merged


def _defaults() -> dict[str, dict[str, Any]]:
    """Each function's sizing defaults: the ``optional(T, default)`` of ``var.function_config``."""
    (variable,) = _infra().of("variable", "function_config")
    declared = str(variable.body["type"])
    sizing: dict[str, dict[str, Any]] = {}
    for fn, fields in re.findall(r"(\w+) = optional\(object\(\{(.*?)\}\), \{\}\)", declared):
        sizing[fn] = {
            name: json.loads(default)
            for name, default in re.findall(r"(\w+) = optional\(\w+, ([^)]+)\)", fields)
        }
    return sizing


def _sizing(env: str) -> dict[str, dict[str, Any]]:
    """Each function's sizing in ``env``: the variable's defaults with the env's settings."""
    (call,) = [
        b for b in _infra().of("module", "promptforge") if b.directory == INFRA / "envs" / env
    ]
    overrides = call.body.get("function_config") or {}
    return {fn: {**spec, **overrides.get(fn, {})} for fn, spec in _defaults().items()}


def _max_concurrent_dispatches(env: str) -> int:
    (call,) = [
        b for b in _infra().of("module", "promptforge") if b.directory == INFRA / "envs" / env
    ]
    (variable,) = _infra().of("variable", "max_concurrent_dispatches")
    return int(call.body.get("max_concurrent_dispatches") or variable.body["default"])


def test_every_expiring_collection_has_a_ttl_policy_that_terraform_applies() -> None:
    declared = json.loads(INDEX_FILE.read_text())["fieldOverrides"]
    ttl = {o["collectionGroup"] for o in declared if o.get("ttl") and o["fieldPath"] == EXPIRES_AT}
    assert ttl == {
        "pf_jobs",
        "items",
        "chunks",
        "outcome_sets",
        "counters",
        "webhooks",
        "pf_rate_keys",
        "states",
        "observations",
    }
    (field,) = _infra().of("resource", "google_firestore_field", "this")
    assert "ttl_config" in str(field.body) and "try(each.value.ttl, false)" in str(field.body)
    (root,) = [b for b in _infra().of("module", "promptforge") if b.directory == INFRA / "envs/dev"]
    assert str(root.get("firestore_indexes_file")).endswith("gcp/firestore_indexes.json")


def test_the_job_records_live_as_long_as_the_result_files() -> None:
    environment = str(_module_locals()["environment"])
    assert "PROMPTFORGE_RETENTION_DAYS = tostring(var.output_retention_days)" in re.sub(
        r"\s+", " ", environment
    )


def test_the_control_queue_is_terraforms_with_the_apps_settings() -> None:
    (queue,) = _infra().of("resource", "google_cloud_tasks_queue")
    assert queue.labels[1] == "control"
    control = _module_locals()["control_queue"]
    assert unquote(control["name"]) == CONTROL_QUEUE
    assert control["max_dispatches_per_second"] == CONTROL_QUEUE_CONFIG.max_dispatches_per_second
    assert control["max_concurrent_dispatches"] == CONTROL_QUEUE_CONFIG.max_concurrent_dispatches
    (retry,) = blocks(queue.body["retry_config"])
    assert (retry["max_attempts"], retry["max_doublings"]) == (
        CONTROL_QUEUE_CONFIG.retry.max_attempts,
        CONTROL_QUEUE_CONFIG.retry.max_doublings,
    )
    assert unquote(retry["min_backoff"]) == f"{CONTROL_QUEUE_CONFIG.retry.min_backoff:g}s"
    assert unquote(retry["max_backoff"]) == f"{CONTROL_QUEUE_CONFIG.retry.max_backoff:g}s"


def test_only_the_controller_may_create_queues() -> None:
    everything = " ".join(strings([b.body for b in _infra().items]))
    assert "cloudtasks.queues.create" not in everything
    grants = str(_module_locals()["project_grants"])
    assert grants.count("roles/cloudtasks.queueAdmin") == 1
    assert '{controller_queues = {fn = "controller", role = "roles/cloudtasks.queueAdmin"' in grants


@pytest.mark.parametrize("env", ENVS)
def test_the_functions_can_serve_every_dispatch_their_queues_may_hold(env: str) -> None:
    sizing = _sizing(env)
    assert set(sizing) == {"api", "ingest", "worker", "controller"}
    assert sizing["worker"]["concurrency"] == 80 and sizing["controller"]["concurrency"] == 8
    worker, controller = sizing["worker"], sizing["controller"]
    assert worker["max_instances"] * worker["concurrency"] >= _max_concurrent_dispatches(env)
    assert (
        controller["max_instances"] * controller["concurrency"]
        >= CONTROL_QUEUE_CONFIG.max_concurrent_dispatches
    )


def test_the_capacity_rule_is_a_precondition_of_the_plan() -> None:
    (project,) = _infra().of("data", "google_project", "this")
    (lifecycle,) = blocks(project.body["lifecycle"])
    conditions = [str(p["condition"]) for p in blocks(lifecycle["precondition"])]
    assert any(
        "var.function_config.worker.max_instances * var.function_config.worker.concurrency >= "
        "var.max_concurrent_dispatches" in c
        for c in conditions
    )
    assert any("local.control_queue.max_concurrent_dispatches" in c for c in conditions)
    assert Settings().max_concurrent_dispatches == int(
        _infra().of("variable", "max_concurrent_dispatches")[0].body["default"]
    )


@pytest.mark.parametrize("env", ENVS)
def test_each_root_commits_a_lock_file_within_its_constraints(env: str) -> None:
    lock = (INFRA / "envs" / env / ".terraform.lock.hcl").read_text()
    locked = dict(
        re.findall(
            r'provider "registry\.terraform\.io/hashicorp/([a-z-]+)" \{\n'
            r'  version     = "([0-9.]+)"',
            lock,
        )
    )
    assert locked == {"archive": "2.7.1", "google": "6.50.0", "google-beta": "6.50.0"}
    versions = (INFRA / "envs" / env / "versions.tf").read_text()
    for name, version in locked.items():
        constraint = re.search(
            rf'{name} = \{{\s*source\s*= "hashicorp/{name}"\s*version\s*= "~> ([0-9.]+)"', versions
        )
        assert constraint is not None, name
        assert version.startswith(constraint.group(1) + "."), (name, version, constraint.group(1))
        assert f'constraints = "~> {constraint.group(1)}"' in lock
    blocks_hashes = re.findall(r"hashes = \[(.*?)\]", lock, re.DOTALL)
    assert len(blocks_hashes) == 3
    for hashes in blocks_hashes:
        values = re.findall(r'"([a-z0-9]+:[^"]+)"', hashes)
        assert len(values) >= 12 and all(re.fullmatch(r"zh:[0-9a-f]{64}", v) for v in values)
