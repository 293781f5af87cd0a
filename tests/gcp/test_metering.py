"""``bench cloud``'s meter sees every client call, and prices each by Google's billing rules.

The first test runs the Firestore job store's whole prompt path on the emulator through
the metered client, with an independent witness underneath: every gRPC method the
transport actually sends is counted by wrapping the transport's own method table. Any
RPC the witness sees that the meter did not count (a call that bypassed the wrapper, or
an RPC with no rule) fails it.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from google.cloud import tasks_v2
from google.cloud.firestore_v1.services.firestore.async_client import FirestoreAsyncClient

from promptforge.bench.cloud_prices import UNIT_PRICES, billable_quantities, cost
from promptforge.core.models import ClaimResult, JobStatus
from promptforge.gcp.firestore_store import FirestoreJobStore
from promptforge.gcp.metering import (
    FIRESTORE_RPCS,
    TASKS_RPCS,
    Meter,
    MeteredFirestoreApi,
    MeteredHttp,
    MeteredTasksClient,
    gcs_class,
)
from promptforge.providers.base import CallOutcome
from promptforge.ratecontrol.base import Observation
from tests.contract._jobstore_data import T0, make_job, result
from tests.gcp.emulators import FirestoreEmulator

pytestmark = pytest.mark.anyio


def _rpcs(client_class: type) -> set[str]:
    """The RPC methods of a GAPIC async client (not its path builders and parsers)."""
    return {
        name
        for name, member in vars(client_class).items()
        if inspect.isfunction(member)
        and not name.startswith(("_", "parse_"))
        and not name.endswith("_path")
    }


def test_every_firestore_and_tasks_rpc_has_a_billing_rule() -> None:
    # "listen" and "write" are the streaming listeners PromptForge does not use: a call
    # to them would be counted as unpriced, which the run tests refuse.
    assert _rpcs(FirestoreAsyncClient) - FIRESTORE_RPCS <= {"listen", "write", "execute_pipeline"}
    assert _rpcs(tasks_v2.CloudTasksAsyncClient) - TASKS_RPCS <= {
        "get_iam_policy",
        "set_iam_policy",
        "test_iam_permissions",
        "get_location",
        "list_locations",
    }


async def test_the_meter_counts_every_rpc_the_firestore_transport_sends(
    firestore_emulator: FirestoreEmulator,
) -> None:
    meter = Meter()
    async with firestore_emulator.connect() as client:
        api = client._firestore_api
        sent = _witness(api)
        client._firestore_api_internal = MeteredFirestoreApi(api, meter)
        store = FirestoreJobStore(client)
        await store.create_job(make_job("job-1"))
        await store.register_prompts("job-1", [("p1", 0), ("p2", 1)])
        until = T0 + timedelta(seconds=30)
        assert await store.claim("job-1", "p1", 0, "w", until, T0) is ClaimResult.CLAIMED
        await store.append_observations("k", [Observation(T0.timestamp(), CallOutcome.SUCCESS, 1)])
        assert await store.record_outcomes("job-1", [result("prompt:p1", 0)]) == 1
        assert await store.drain_observations("k")
        job = await store.get_job("job-1")
        assert job is not None and job.status is JobStatus.WAITING_FOR_UPLOAD
        assert await store.get_job("nope") is None
        outcomes = [o async for o in store.iter_outcomes("job-1", result("x", 0).kind)]
        assert len(outcomes) == 1

    counted = Counter({name.split(".", 1)[1]: n for name, n in meter.calls.items()})
    assert sent and counted == sent, f"sent {dict(sent)}, metered {dict(counted)}"
    assert not meter.unpriced
    # every get reads at least its document (found or missing), every query at least one
    assert meter.ops["firestore.read"] >= sent["batch_get_documents"] + sent["run_query"]
    assert meter.ops["firestore.write"] >= 4 and meter.ops["firestore.delete"] >= 1
    assert sum(meter.document_writes.values()) == (
        meter.ops["firestore.write"] + meter.ops["firestore.delete"]
    )


def _witness(api: Any) -> Counter[str]:
    """Count every RPC at the transport, below the meter: the transport's method table."""
    sent: Counter[str] = Counter()
    table: dict[Any, Callable[..., Any]] = api._client._transport._wrapped_methods
    names = {getattr(api._client._transport, name): name for name in _rpcs(FirestoreAsyncClient)}
    for method, call in list(table.items()):
        name = names.get(method)
        if name is not None:
            table[method] = _spy(name, call, sent)
    return sent


def _spy(name: str, call: Callable[..., Any], sent: Counter[str]) -> Callable[..., Any]:
    def spied(*args: Any, **kwargs: Any) -> Any:
        sent[name] += 1
        return call(*args, **kwargs)

    return spied


class _FakeTasks:
    async def create_task(self, **_: Any) -> str:
        return "created"

    async def set_iam_policy(self, **_: Any) -> str:
        return "set"

    def queue_path(self, *parts: str) -> str:
        return "/".join(parts)


async def test_tasks_calls_are_billable_operations_and_an_unknown_call_is_flagged() -> None:
    meter = Meter()
    client = MeteredTasksClient(_FakeTasks(), meter)
    assert await client.create_task(parent="q") == "created"
    assert client.queue_path("p", "l", "q") == "p/l/q"  # a local helper: no operation
    assert meter.ops == {"tasks.api": 1}
    await client.set_iam_policy()
    assert meter.unpriced == {"tasks.set_iam_policy": 1}


def test_gcs_requests_are_classed_as_google_bills_them() -> None:
    base = "http://gcs/storage/v1/b/bucket"
    assert gcs_class("GET", f"{base}/o/name?alt=media") == "gcs.class_b"
    assert gcs_class("GET", f"{base}/o") == "gcs.class_a"  # a listing
    assert gcs_class("POST", "http://gcs/upload/storage/v1/b/bucket/o") == "gcs.class_a"
    assert gcs_class("PUT", "http://gcs/upload/storage/v1/b/bucket/o?upload_id=1") == "gcs.class_a"
    assert gcs_class("DELETE", f"{base}/o/name") is None

    class Session:
        def request(self, method: str, url: str) -> str:
            return f"{method} {url}"

    meter = Meter()
    assert MeteredHttp(Session(), meter).request("GET", f"{base}/o/n") == f"GET {base}/o/n"
    assert meter.ops == {"gcs.class_b": 1}


def test_prices_fold_functions_into_requests_and_instance_seconds() -> None:
    ops = {
        "firestore.read": 100_000,
        "run.worker.requests": 80,
        "run.worker.handler_us": 80_000_000,  # 80 s of handler time at concurrency 80
    }
    quantities = billable_quantities(ops)
    assert quantities["run.requests"] == 80
    assert quantities["run.vcpu_seconds"] == pytest.approx(1.0)
    usd = cost(quantities)
    assert usd["firestore.read"] == pytest.approx(UNIT_PRICES["firestore.read"] * 100_000)
    assert set(usd) == set(UNIT_PRICES)
