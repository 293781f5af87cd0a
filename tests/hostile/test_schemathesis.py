"""schemathesis against a live `promptforge serve`: every operation of the OpenAPI document.

Positive and negative cases for each operation, sent over real HTTP with an API key;
every response must be a non-5xx whose status, content type, headers and body the
document describes. Then a stateful run follows the document's links (init → status,
results) so the 200 answers of status and results are checked too.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.specs.openapi import checks as openapi_checks

from promptforge.api.app import openapi_spec
from tests.e2e.jobs import init_and_upload, jsonl, make_prompts, wait_final
from tests.hostile.stack import Stack, start_stack

pytestmark = pytest.mark.e2e

# A body over a stated size limit is refused with 413, which is a rejection too.
CONFIG = schemathesis.Config.from_str(
    """
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 409, 413, 415, 422, 429]

# Only the document's own links: links inferred from response schemas (a listed job's id)
# depend on what earlier examples created, which a replayed example cannot repeat.
[phases.stateful.inference]
algorithms = []
"""
)
INIT = "POST /v1/jobs/init"


SCHEMA = schemathesis.openapi.from_dict(json.loads(openapi_spec()), config=CONFIG)

CHECKS: list[CheckFunction] = [
    not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.negative_data_rejection,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A `promptforge serve` with many keys: 30 per stateless/stateful group, 1 more.

    Calls rotate over a group's keys so that no key ever reaches its request limit: a 429
    is a documented answer, but one would make the stateful run depend on timing.
    """
    tenants = ["stateless"] * 30 + ["stateful"] * 30 + ["finished"]
    with start_stack(tmp_path_factory.mktemp("schemathesis"), tenants=tenants) as stack:
        yield stack


@SCHEMA.parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms(case: schemathesis.Case, live: Stack) -> None:
    response = case.call_and_validate(
        base_url=live.url,
        headers={"X-API-Key": live.next_key("stateless")},
        checks=CHECKS,
        timeout=30,
    )
    assert response.status_code != 429, "a key ran out of requests: add keys to the group"


def test_stateful_runs_follow_init_to_status_and_results(live: Stack) -> None:
    """Chains along the document's links: a created job's status (200) and results (409)."""
    base = SCHEMA.as_state_machine()
    seen: Counter[tuple[str, int]] = Counter()

    class Machine(base):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, object]:
            return {"base_url": live.url, "headers": {"X-API-Key": live.next_key("stateful")}}

        def before_call(self, case: schemathesis.Case) -> None:
            # Random model names are 422s: name a catalogued one so some jobs get created.
            positive = case.meta is None or case.meta.generation.mode.is_positive
            if case.operation.label == INIT and positive and isinstance(case.body, dict):
                case.body.update(provider="openai", model="gpt-4o-mini")
                # A generated webhook host is looked up in DNS (bounded, but not repeatable):
                # the replayed run must meet the same answers, so no webhook here.
                case.body.pop("webhook_url", None)

        def after_call(self, response: schemathesis.Response, case: schemathesis.Case) -> None:
            seen[(case.operation.label, response.status_code)] += 1
            assert response.status_code != 429, "a key ran out of requests: add keys"

        def validate_response(
            self, response: schemathesis.Response, case: schemathesis.Case, **kwargs: object
        ) -> None:
            case.validate_response(response, checks=CHECKS)

    Machine.run(
        settings=settings(
            max_examples=25,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    assert seen[(INIT, 202)] > 0, seen
    assert seen[("GET /v1/jobs/{job_id}/status", 200)] > 0, seen
    assert seen[("GET /v1/jobs/{job_id}/results", 409)] > 0, seen


def test_a_finished_jobs_status_and_results_conform(live: Stack) -> None:
    """The 200s a generated case cannot reach: a job whose upload ran to the end."""
    key = live.next_key("finished")
    with httpx.Client(timeout=30) as client:
        # No provider answers this stack: with max_retries 0 each prompt fails at once.
        job_id = init_and_upload(client, live.url, key, jsonl(make_prompts(2)), max_retries=0)
        assert wait_final(client, live.url, key, job_id, timeout=60)["status"] == "COMPLETED"
    for operation_id in ("jobStatus", "jobResults"):
        case = SCHEMA.find_operation_by_id(operation_id).Case(path_parameters={"job_id": job_id})
        response = case.call_and_validate(
            base_url=live.url, headers={"X-API-Key": key}, checks=CHECKS
        )
        assert response.status_code == 200
