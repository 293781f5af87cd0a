"""``promptforge dev google`` (``make demo-google``): the demo job through the Google path.

The command starts the Firestore, GCS and Cloud Tasks emulators, the front-end stand-ins
and the four functions as deployed, runs the demo job with the usual progress display,
and stops everything: afterwards no process of any group it started is left.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROMPTS = 12


def _alive_groups(pgids: set[int]) -> list[str]:
    """Processes still running in one of the groups (from /proc: stat's 5th field is pgrp)."""
    alive = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in pgids and fields[0] != "Z":
            alive.append(f"{proc.name}: {(proc / 'cmdline').read_bytes()!r}")
    return alive


def test_dev_google_completes_the_demo_job_and_leaves_nothing_running(tmp_path: Path) -> None:
    logs, out = tmp_path / "logs", tmp_path / "out"
    command = [sys.executable, "-m", "promptforge.cli.main", "dev", "google"]
    command += ["--prompts", str(PROMPTS), "--data-dir", str(logs), "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTFORGE_")}
    ran = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path, check=False
    )
    assert ran.returncode == 0, f"{ran.stdout}\n{ran.stderr}"
    assert f"COMPLETED: {PROMPTS} results, 0 errors" in ran.stderr.replace("\n", " "), ran.stderr
    assert "PROCESSING" in ran.stderr  # the progress display
    (job_dir,) = out.iterdir()
    lines = [
        json.loads(line)
        for part in sorted(job_dir.glob("results_part_*.jsonl"))
        for line in part.read_text().splitlines()
    ]
    assert len({line["prompt_id"] for line in lines}) == PROMPTS
    groups = json.loads((logs / "processes.json").read_text())
    assert {g["name"] for g in groups} >= {
        "Firestore emulator",
        "GCS stand-in",
        "Cloud Tasks emulator",
        "worker front end",
        "controller front end",
        "api function",
        "ingest function",
        "worker function",
        "controller function",
    }
    assert _alive_groups({int(g["pgid"]) for g in groups}) == []
