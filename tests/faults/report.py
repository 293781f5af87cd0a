"""The figures of each fault run: printed, and appended as JSON lines to ``$PF_FAULTS_REPORT``.

``docs/reliability.md`` is written from those lines: run the suite with the variable set
(``PF_FAULTS_REPORT=/tmp/faults.jsonl .venv/bin/pytest tests/faults -s``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict

from tests.faults.checks import Summary
from tests.faults.scenarios import Fault


def record(runtime: str, fault: Fault, summary: Summary, seconds: float, events: list[str]) -> None:
    """Print the run's figures and append them to the report file, if one is named."""
    row = {
        "runtime": runtime,
        "fault": fault.name,
        "what": fault.what,
        "seconds": round(seconds, 1),
        "events": events,
        **asdict(summary),
    }
    print(json.dumps(row))
    path = os.environ.get("PF_FAULTS_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(row) + "\n")
