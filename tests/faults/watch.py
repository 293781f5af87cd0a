"""Watching a job and the simulator from the outside, the way a client would, to time the faults."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

POLL = 0.2  # seconds between status calls (the API allows 600 a minute per key)
IN_FLIGHT_POLL = 0.02  # seconds between looks for calls in flight (each lasts >= 0.2 s)

Status = dict[str, Any]


class JobWatch:
    """Status of one job through the public API (whose URL changes when a server restarts)."""

    def __init__(self, client: httpx.Client, api_url: str, key: str, job_id: str) -> None:
        self.client, self.api_url, self.key, self.job_id = client, api_url, key, job_id

    def status(self) -> Status:
        """``GET /v1/jobs/{id}/status``, waiting out the API's own 429s."""
        url = f"{self.api_url}/v1/jobs/{self.job_id}/status"
        got = self.client.get(url, headers={"X-API-Key": self.key})
        while got.status_code == 429:
            time.sleep(float(got.headers.get("retry-after", "1")))
            got = self.client.get(url, headers={"X-API-Key": self.key})
        assert got.status_code == 200, got.text
        body: Status = got.json()
        return body

    def wait_for(self, what: str, ready: Callable[[Status], bool], within: float = 120) -> Status:
        """The first status for which ``ready`` holds; fail if the job ends first."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            status = self.status()
            if ready(status):
                return status
            assert status["status"] not in ("COMPLETED", "FAILED"), (
                f"ended before the moment to {what}: {status}"
            )
            time.sleep(POLL)
        raise AssertionError(f"never reached the moment to {what}")


def done(status: Status) -> int:
    """Prompts with an outcome."""
    return int(status["completed_count"]) + int(status["failed_count"])


def sim_stats(client: httpx.Client, sim_url: str) -> dict[str, Any]:
    """The simulator's counters."""
    got = client.get(f"{sim_url}/_sim/stats")
    got.raise_for_status()
    stats: dict[str, Any] = got.json()
    return stats


def in_flight(stats: dict[str, Any]) -> int:
    """Calls the simulator has taken but not answered yet."""
    answered = ("successes", "rate_limited", "errors", "rejected")
    return sum(
        counters["requests"] - sum(counters[name] for name in answered)
        for counters in stats.values()
        if isinstance(counters, dict) and "requests" in counters
    )


def wait_in_flight(
    client: httpx.Client, sim_url: str, within: float = 60.0, at_least: int = 1
) -> int:
    """Poll until ``at_least`` calls are in flight at the provider; how many were (0: never)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        calls = in_flight(sim_stats(client, sim_url))
        if calls >= at_least:
            return calls
        # A short pause: the stats carry every prompt's counts (~1 MB at 10,000 prompts),
        # and polling them back to back takes the CPU the run under test needs.
        time.sleep(IN_FLIGHT_POLL)
    return 0


def wait_answered(client: httpx.Client, sim_url: str, within: float = 60.0) -> dict[str, Any]:
    """Poll until the provider has answered every call it took (or ``within`` passed); its stats."""
    deadline = time.monotonic() + within
    stats = sim_stats(client, sim_url)
    while in_flight(stats) and time.monotonic() < deadline:
        time.sleep(POLL)
        stats = sim_stats(client, sim_url)
    return stats


def end_storm(
    client: httpx.Client,
    sim_url: str,
    lift: str,
    *,
    refusals: int,
    lasting: float,
    since: float,
    within: float = 300.0,
) -> tuple[int, float]:
    """Lift a 429 storm (``POST /_sim/limits`` with ``lift``) once the provider has refused
    ``refusals`` calls and ``lasting`` seconds have passed ``since`` (monotonic) it began.

    Returns the refusals and the seconds the storm lasted; fails if the provider has not
    refused that many within ``within`` seconds (the storm never met the runtime's calls).
    """
    provider = lift.partition(":")[0]
    deadline = since + within
    refused = int(sim_stats(client, sim_url)[provider]["rate_limited"])
    while refused < refusals or time.monotonic() - since < lasting:
        assert time.monotonic() < deadline, (
            f"the provider refused {refused} calls in {within:g} s of storm, not {refusals}"
        )
        time.sleep(POLL)
        refused = int(sim_stats(client, sim_url)[provider]["rate_limited"])
    client.post(f"{sim_url}/_sim/limits", json={"limit": lift}).raise_for_status()
    return refused, time.monotonic() - since
