"""Secrets stay secret: no provider key and no PromptForge API key in any log line or record.

A real `promptforge serve` runs with DEBUG logging and distinctive keys for all four
providers (two from the environment, two from a secrets file); the simulator accepts
only those keys and injects faults, so results, retries and error lines are all written.
Then the server's whole log output and every file under its data directory (jobs.db,
tasks.db, their WAL files, every blob) are searched, as bytes, for every key.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.jobs import init_and_upload, jsonl, make_prompts, wait_final
from tests.e2e.processes import Process, create_key, free_port, simulator

pytestmark = pytest.mark.e2e

# `promptforge serve`, with every logger at DEBUG (the CLI itself logs at INFO).
_DEBUG_SERVE = """
import logging, sys
import promptforge.logs as logs
_configure = logs.configure_logging
def _debug(level="INFO", **kwargs):
    redactor = _configure("DEBUG", **kwargs)
    for name in ("httpx", "httpcore", "promptforge"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    logging.getLogger(__name__).debug("debug logging on")
    return redactor
logs.configure_logging = _debug
from promptforge.cli.main import main
sys.exit(main(["serve"]))
"""

MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-haiku-4-5-20251001",
    "gemini": "gemini-2.5-flash",
    "mistral": "mistral-small-latest",
}
FROM_FILE = ("gemini", "mistral")


def _key(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(16)}"


def _fragments(key: str) -> list[bytes]:
    """The key and 16-character pieces of its random part: a masked or cut copy has one.

    Every key here ends in at least 32 random characters, so the last 16 and the 16
    before them are random (never a short piece that could match unrelated text).
    """
    return [key.encode(), key[-16:].encode(), key[-32:-16].encode()]


def _leaks(blob: bytes, keys: dict[str, str]) -> list[str]:
    return [name for name, key in keys.items() if any(f in blob for f in _fragments(key))]


def test_no_key_in_logs_task_bodies_or_stored_records(tmp_path: Path) -> None:
    provider_keys = {
        "openai": _key("sk-proj"),
        "anthropic": _key("sk-ant-api03"),
        "gemini": _key("AIzaSy"),
        "mistral": _key("mistral"),
    }
    data = tmp_path / "data"
    api_key = create_key(data, "tenant")
    wrong_key = "pf_" + secrets.token_urlsafe(32)
    secrets_file = tmp_path / "provider-secrets.json"
    secrets_file.write_text(json.dumps({p: {"api_key": provider_keys[p]} for p in FROM_FILE}))
    secrets_file.chmod(0o600)

    accepted = [arg for key in provider_keys.values() for arg in ("--api-key", key)]
    faults = ("--error-rate", "0.2", "--drop-rate", "0.05", "--latency", "0.01")
    limits = ("--limit", "mistral:rpm=600")  # its default, 1 request a second, is slow
    with simulator(tmp_path, *accepted, *faults, *limits) as sim:
        port = free_port()
        env = dict(os.environ)
        env.update(
            PROMPTFORGE_DATA_DIR=str(data),
            PROMPTFORGE_PORT=str(port),
            PROMPTFORGE_CONTROL_PERIOD="0.5",
            PROMPTFORGE_SECRETS_FILE=str(secrets_file),
            PROMPTFORGE_MISTRAL_BASE_URL=f"{sim.url}/mistral",
        )
        for provider in MODELS:
            if provider not in FROM_FILE:
                env[f"PROMPTFORGE_{provider.upper()}_API_KEY"] = provider_keys[provider]
            if provider != "mistral":
                env[f"PROMPTFORGE_{provider.upper()}_BASE_URL"] = sim.url
        proc = Process(
            [sys.executable, "-c", _DEBUG_SERVE],
            env,
            tmp_path / "server.log",
            f"http://127.0.0.1:{port}",
        )
        proc.start("/healthz")
        try:
            with httpx.Client(timeout=30) as client:
                refused = client.post(
                    f"{proc.url}/v1/jobs/init",
                    headers={"X-API-Key": wrong_key},
                    json={"provider": "openai", "model": "gpt-4o-mini"},
                )
                assert refused.status_code == 401
                jobs = {
                    provider: init_and_upload(
                        client,
                        proc.url,
                        api_key,
                        jsonl(make_prompts(12, prefix=f"{provider}-")),
                        provider=provider,
                        model=model,
                        max_retries=0,  # injected faults become error lines
                        rpm=600,
                    )
                    for provider, model in MODELS.items()
                }
                statuses = {
                    provider: wait_final(client, proc.url, api_key, job_id, timeout=60)
                    for provider, job_id in jobs.items()
                }
                stats = client.get(f"{sim.url}/_sim/stats").json()
        finally:
            proc.stop()

    for provider, status in statuses.items():
        assert status["status"] == "COMPLETED", (provider, status)
        # The simulator accepts only the configured keys: results prove each was sent.
        assert status["completed_count"] > 0, (provider, status)
        assert stats[provider]["rejected"] == 0
    assert sum(status["failed_count"] for status in statuses.values()) > 0, "no error path run"

    log = proc.log_path.read_bytes()
    assert b"DEBUG" in log, "the server did not log at DEBUG"
    everything = {**provider_keys, "promptforge": api_key, "promptforge (refused)": wrong_key}
    assert _leaks(log, everything) == []

    files = [path for path in data.rglob("*") if path.is_file()]
    names = {path.name for path in files}
    assert {"jobs.db", "tasks.db"} <= names
    assert any(name.startswith("results_part_") for name in names)
    assert "errors.jsonl" in names
    stored = b"".join(path.read_bytes() for path in files)
    # The search can find things: the prompts themselves are stored in plain bytes.
    assert b"Summarise item 11 of the catalogue" in stored
    for path in files:
        assert _leaks(path.read_bytes(), everything) == [], path
