"""``promptforge bench cloud``: a real job on the metered Google path, its last line the figures.

The whole command in a subprocess: the stack starts, a small job completes, every function
process reports its counts, and the last line is the JSON object the issue specifies.
The counts must be those of a job that ran: every prompt delivered by Cloud Tasks and
served by a worker request, reads and writes for each, nothing left unpriced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROMPTS = 15


def test_bench_cloud_counts_a_completed_job_and_ends_with_its_figures(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "promptforge.cli.main", "bench", "cloud"]
    command += ["--prompts", str(PROMPTS), "--no-report"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTFORGE_")}
    ran = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path, check=False
    )
    assert ran.returncode == 0, f"{ran.stdout}\n{ran.stderr}"
    figures = json.loads(ran.stdout.strip().splitlines()[-1])
    assert set(figures) == {
        "prompts",
        "usd_per_million_prompts",
        "ops_per_prompt",
        "hottest_document_writes_per_1k_prompts",
        "lost",
        "duplicates",
        "hottest_per_prompt_document_writes_per_1k_prompts",
        "tick_document_writes_per_second",
        "rate_state_writes_per_second",
    }
    assert (figures["prompts"], figures["lost"], figures["duplicates"]) == (PROMPTS, 0, 0)
    ops = figures["ops_per_prompt"]
    # One chunk task carries the 15 prompts; the controller's ticks are tasks too.
    assert ops["tasks.api"] * PROMPTS >= 2 and ops["tasks.delivery"] * PROMPTS >= 2
    assert ops["run.requests"] >= ops["tasks.delivery"]  # each delivery is a function request
    # Each prompt's registration; its chunk's record, claim and checkpoints (2 of 10 and 5).
    assert ops["firestore.write"] * PROMPTS >= PROMPTS + 1 + 1 + 2
    assert ops["firestore.read"] * PROMPTS >= 1 + 2 + 1  # the claim, checkpoints, finalize
    assert ops["firestore.delete"] > 0  # the drained observations: a document a checkpoint
    assert ops["gcs.class_a"] > 0 and ops["gcs.class_b"] > 0  # the upload, the results
    assert figures["usd_per_million_prompts"] > 0
    assert figures["hottest_document_writes_per_1k_prompts"] > 0
    hottest = figures["hottest_document_writes_per_1k_prompts"]
    assert 0 < figures["hottest_per_prompt_document_writes_per_1k_prompts"] <= hottest
    assert figures["tick_document_writes_per_second"] > 0  # the controller ticked
    # The key's state is a log: its saves (ingest's, each tick's) spread over its documents.
    assert figures["rate_state_writes_per_second"] > figures["tick_document_writes_per_second"]
    assert "no price rule" not in ran.stderr and "Firestore" in ran.stdout  # the breakdown
