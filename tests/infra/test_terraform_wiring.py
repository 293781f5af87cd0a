"""How infra/ wires the four functions: entry points, triggers, callers, settings, retention."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from tests.infra._hcl import Block, Tree, blocks, function_calls, load_tree, strings, unquote

INFRA = Path(__file__).resolve().parents[2] / "infra"
APP_MODULE = "modules/promptforge"

# promptforge.gcp.settings.GcpSettings (the shared GCP names).
GCP_SETTINGS = {
    "PROMPTFORGE_GCP_PROJECT",
    "PROMPTFORGE_GCP_REGION",
    "PROMPTFORGE_INPUT_BUCKET",
    "PROMPTFORGE_OUTPUT_BUCKET",
    "PROMPTFORGE_FIRESTORE_DATABASE",
    "PROMPTFORGE_TASKS_LOCATION",
    "PROMPTFORGE_WORKER_URL",
    "PROMPTFORGE_CONTROLLER_URL",
    "PROMPTFORGE_TASKS_SERVICE_ACCOUNT",
    "PROMPTFORGE_SECRET_PREFIX",
    "PROMPTFORGE_MAX_CONCURRENT_DISPATCHES",
    "PROMPTFORGE_RETENTION_DAYS",
}


@cache
def _infra() -> Tree:
    return load_tree(INFRA)


def _calls() -> dict[str, Block]:
    return {call.labels[0]: call for call in function_calls(_infra())}


def _locals(relative: str) -> dict[str, object]:
    merged: dict[str, object] = {}
    for block in _infra().in_dir(relative):
        if block.kind == "locals":
            merged.update(block.body)
    return merged


def test_entry_points_and_sources_follow_the_shared_names() -> None:
    for name, call in _calls().items():
        assert call.get("entry_point") == name
        assert call.get("source_dir") == f"${{var.functions_source_dir}}/{name}"
        assert call.get("name") == f"${{local.function_names.{name}}}"


def test_only_ingest_has_an_event_trigger_on_upload_finalize() -> None:
    triggered = {
        name: call.body["event_trigger"]
        for name, call in _calls().items()
        if "event_trigger" in call.body
    }
    assert list(triggered) == ["ingest"]
    trigger = triggered["ingest"]
    assert unquote(trigger["event_type"]) == "google.cloud.storage.object.v1.finalized"
    assert trigger["bucket"] == "${google_storage_bucket.input.name}"
    assert trigger["service_account_email"] == "${google_service_account.events.email}"


def test_private_functions_are_invoked_only_by_their_delivery_identities() -> None:
    invokers = {name: call.body.get("invoker_members") for name, call in _calls().items()}
    assert invokers == {
        "api": {},
        "ingest": {"events": '"serviceAccount:${google_service_account.events.email}"'},
        "worker": {"tasks": '"serviceAccount:${google_service_account.tasks.email}"'},
        "controller": {"tasks": '"serviceAccount:${google_service_account.tasks.email}"'},
    }


def test_every_function_gets_the_gcp_settings() -> None:
    expression = str(_locals(APP_MODULE)["environment"])
    # merge(var.extra_environment, {...}): the shared settings come last, so they win.
    assert expression.startswith("${merge(var.extra_environment, {")
    assert set(re.findall(r"\b(PROMPTFORGE_[A-Z_]+) =", expression)) == GCP_SETTINGS
    assert {c.body.get("environment_variables") for c in _calls().values()} == {
        "${local.environment}"
    }


def test_uploads_and_results_are_deleted_after_their_retention() -> None:
    ages = {}
    for bucket in _infra().of("resource", "google_storage_bucket"):
        for rule in blocks(bucket.body.get("lifecycle_rule")):
            actions = [unquote(a.get("type")) for a in blocks(rule.get("action"))]
            if actions == ["Delete"]:
                ages[bucket.labels[1]] = [c.get("age") for c in blocks(rule.get("condition"))]
    assert ages == {
        "input": ["${var.input_retention_days}"],
        "output": ["${var.output_retention_days}"],
    }


def test_provider_keys_are_readable_by_the_worker_only() -> None:
    readers = [
        b
        for b in _infra().of("resource")
        if any("secretmanager.secretAccessor" in s for s in strings(b.body))
    ]
    assert [(b.labels, b.body.get("member")) for b in readers] == [
        (
            ("google_secret_manager_secret_iam_member", "worker_reads_provider_key"),
            '"serviceAccount:${module.function["worker"].service_account_email}"',
        )
    ]


def test_provider_versions_are_pinned_everywhere() -> None:
    declared: dict[str, list[str]] = {}
    for block in _infra().of("terraform"):
        where = str(block.directory.relative_to(INFRA))
        assert unquote(block.body.get("required_version")) == ">= 1.5.0", where
        for providers in blocks(block.body.get("required_providers")):
            for name, spec in providers.items():
                if name.startswith("__"):
                    continue
                assert str(unquote(spec.get("version"))).startswith("~> "), (where, name)
                declared.setdefault(where, []).append(name)
    everything = ["google", "google-beta", "archive"]
    assert declared == {
        "envs/common": everything,  # the roots' shared files; envs/dev and envs/prod link them
        "envs/dev": everything,
        "envs/prod": everything,
        "modules/function": ["google", "archive"],
        "modules/promptforge": everything,
    }


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_env_roots_hold_only_what_differs(env: str) -> None:
    """Everything but main.tf (and the lock file) is a link to envs/common."""
    root = INFRA / "envs" / env
    files = {p.name for p in root.iterdir() if p.is_file() or p.is_symlink()}
    assert files >= {"main.tf", ".terraform.lock.hcl"}
    for path in root.glob("*.tf"):
        if path.name != "main.tf":
            assert path.is_symlink(), path
            assert path.resolve() == (INFRA / "envs" / "common" / path.name).resolve()
    assert not any(p.is_symlink() for p in (root / "main.tf",))


def test_roots_point_at_the_packaged_functions_and_the_index_file() -> None:
    repo = INFRA.parent
    for env in ("dev", "prod"):
        (call,) = [b for b in _infra().in_dir(f"envs/{env}") if b.kind == "module"]
        root = INFRA / "envs" / env

        def resolve(key: str, root: Path = root, call: Block = call) -> Path:
            return Path(str(call.get(key)).replace("${path.root}", str(root))).resolve()

        # scripts/package_functions.py writes build/functions/<name>/ by default.
        assert resolve("functions_source_dir") == repo / "build" / "functions"
        # promptforge.gcp keeps the store's indexes there (a missing file would mean none).
        indexes = resolve("firestore_indexes_file")
        assert indexes == repo / "shared" / "promptforge" / "gcp" / "firestore_indexes.json"
        assert indexes.is_file()


def test_prod_deploys_always_wait_for_an_approval() -> None:
    cicd = _locals(APP_MODULE)
    assert str(cicd["require_approval"]).startswith('${var.environment == "prod" || ')
    (trigger,) = _infra().of("resource", "google_cloudbuild_trigger")
    approvals = [a.get("approval_required") for a in blocks(trigger.body.get("approval_config"))]
    assert approvals == ["${each.value.approval}"]
    builds = str(cicd["trigger_builds"])
    assert 'deploy = {apply = "true", approval = local.require_approval}' in builds
    assert 'plan = {apply = "false", approval = false}' in builds
