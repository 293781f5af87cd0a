"""The deployable function folders: built by scripts/package_functions.py, runnable on their own.

Each packaged folder is what Cloud Build uploads: ``main.py``, ``requirements.txt`` and
the vendored ``promptforge`` package. The test installs only ``requirements.txt`` into a
fresh virtualenv and serves all four folders with that virtualenv's functions-framework,
each from its own folder.

The wheels come from PyPI (or the machine's pip configuration) the first time: ``pip
download -r requirements.txt`` into ``build/test-cache/function-wheels-<hash>``, named by
the requirements' hash and this interpreter, so a changed requirement downloads anew.
Every run then resolves and installs the same ``requirements.txt`` from that folder
alone (``--no-index``, with this interpreter's pip: the virtualenv gets none): a fresh
install in seconds instead of a minute or more of index look-ups on a loaded machine.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import httpx
import pytest

from promptforge.devstack.cloudevents import finalize_event
from tests.gcp.stand_ins import ROOT, free_port, spawn_function, wait_until_serving

FUNCTIONS = ["api", "ingest", "worker", "controller"]


def _load_packager() -> object:
    spec = importlib.util.spec_from_file_location(
        "package_functions", ROOT / "scripts" / "package_functions.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pins(lines: list[str]) -> set[str]:
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_requirements_pin_what_the_library_and_the_adapters_need(name: str) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["gcp"])
    requirements = (ROOT / "functions" / name / "requirements.txt").read_text().splitlines()
    assert _pins(requirements) == wanted


DEV_ONLY = ("sim", "bench", "devstack", "cli", "embedded")
_PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]


def _wheelhouse(requirements: Path, env: dict[str, str]) -> Path:
    """The wheels ``requirements`` resolves to, downloaded once per requirements and Python."""
    key = hashlib.sha256(requirements.read_bytes() + sys.version.encode()).hexdigest()[:16]
    wheels = ROOT / "build" / "test-cache" / f"function-wheels-{key}"
    if wheels.is_dir():
        return wheels
    wheels.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{wheels.name}.", dir=wheels.parent))
    try:
        download = [*_PIP, "download", "--quiet", "-d", str(partial), "-r", str(requirements)]
        subprocess.run(download, check=True, timeout=600, env=env)
        partial.rename(wheels)  # whole or not at all: an interrupted download is not used
    except OSError:  # another run finished the same download first
        if not wheels.is_dir():
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return wheels


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_function_package_holds_only_what_it_imports(name: str, tmp_path: Path) -> None:
    packager = _load_packager()
    folder = packager.package(name, tmp_path)  # type: ignore[attr-defined]
    library = folder / "promptforge"
    shipped = {p.relative_to(library).as_posix() for p in library.rglob("*") if p.is_file()}
    assert not [p for p in shipped if p.split("/")[0] in DEV_ONLY], sorted(shipped)
    assert "data/example_prompts.jsonl" not in shipped  # the demo's 800 kB of prompts
    assert {"providers/gemini.py", "data/models.json"} <= shipped  # (/openapi.json is generated)
    # Every shipped module imports with only the folder's library on the path: nothing missing.
    probe = (
        "import importlib, os, pkgutil, sys; sys.path.insert(0, '.'); import promptforge, main; "
        "assert os.path.dirname(promptforge.__file__) == os.path.abspath('promptforge'); "
        "[importlib.import_module(m.name) for m in "
        "pkgutil.walk_packages(promptforge.__path__, 'promptforge.')]; "
        "from promptforge.providers.catalogue import Catalogue; Catalogue.load()"
    )
    ran = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr


@pytest.mark.e2e
@pytest.mark.slow
def test_packaged_functions_start_from_their_own_folder(tmp_path: Path) -> None:
    packager = _load_packager()
    folders = [packager.package(name, tmp_path / "build") for name in FUNCTIONS]  # type: ignore[attr-defined]
    for folder in folders:
        assert sorted(p.name for p in folder.iterdir()) == [
            "main.py",
            "promptforge",
            "requirements.txt",
        ]
        assert not list(folder.rglob("__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    requirements = folders[0] / "requirements.txt"
    wheels = _wheelhouse(requirements, clean)
    into = [*_PIP, "--python", str(venv / "bin" / "python")]
    offline = ["--no-index", "--find-links", str(wheels)]
    subprocess.run(
        [*into, "install", "--quiet", *offline, "-r", str(requirements)],
        check=True,
        timeout=300,
        env=clean,
    )
    listed = subprocess.run(
        [*into, "list", "--format=freeze"], check=True, capture_output=True, text=True, env=clean
    ).stdout
    assert "promptforge" not in listed.lower()  # the library comes from the folder only

    ports = {name: free_port() for name in FUNCTIONS}
    env = {
        **clean,
        "PYTHONNOUSERSITE": "1",
        "PROMPTFORGE_GCP_PROJECT": "pf-test",
        "PROMPTFORGE_INPUT_BUCKET": "pf-in",
        "PROMPTFORGE_OUTPUT_BUCKET": "pf-out",
        "PROMPTFORGE_WORKER_URL": f"http://127.0.0.1:{ports['worker']}",
        "PROMPTFORGE_CONTROLLER_URL": f"http://127.0.0.1:{ports['controller']}",
        "PROMPTFORGE_TASKS_SERVICE_ACCOUNT": "pf-tasks@pf-test.iam.gserviceaccount.com",
    }
    command = str(venv / "bin" / "functions-framework")
    servers = {
        name: spawn_function(
            name,
            ports[name],
            env,
            tmp_path / f"{name}.log",
            source=folder / "main.py",
            command=command,
        )
        for name, folder in zip(FUNCTIONS, folders, strict=True)
    }
    try:
        wait_until_serving(list(servers.values()))
        api, ingest = servers["api"].url, servers["ingest"].url
        health = httpx.get(f"{api}/healthz", timeout=10)
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        headers, data = finalize_event("somewhere-else", "x", 1)
        event = httpx.post(ingest, json=data, headers=headers, timeout=10)
        assert event.status_code == 200, event.text
        for name in ("worker", "controller"):
            got = httpx.post(servers[name].url, json={"target": "x", "payload": {}}, timeout=10)
            assert got.status_code == 401, got.text  # private: no OIDC token, no entry
        for server in servers.values():
            assert "Traceback" not in server.tail(), server.tail()
    finally:
        for server in servers.values():
            server.stop()
