"""MistralAdapter: request shape, and the classification of recorded Mistral responses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from promptforge.core.models import GenerationParams
from promptforge.providers.base import CallOutcome, PromptCall
from promptforge.providers.mistral import MistralAdapter
from tests.unit._wire_checks import bodies, check_expected, expected_outcomes, statuses
from tests.unit._wire_fixtures import fixture_paths, load_fixture

OK = CallOutcome.SUCCESS
LIMITED = CallOutcome.RATE_LIMITED
TRANSIENT = CallOutcome.TRANSIENT
PERMANENT = CallOutcome.PERMANENT

EXPECTED: dict[str, dict[str, Any]] = {
    "success": {
        "outcome": OK,
        "text": "Paris is the capital of France.",
        "finish_reason": "stop",
        "input_tokens": 16,
        "output_tokens": 36,
        "limit_requests": 720,
        "remaining_requests": 717,
        "limit_tokens": 5000000,  # the minute limit, not the month's 200000000
        "remaining_tokens": 4999911,
        "retry_after": None,
    },
    "success_model_length": {"outcome": OK, "finish_reason": "model_length", "input_tokens": 32760},
    "rate_limited_429": {
        "outcome": LIMITED,
        "error_code": "rate_limited",
        "message_contains": "Rate limit exceeded",
        "remaining_requests": 0,
        "remaining_tokens": 4120000,
    },
    "rate_limited_retry_after_429": {"outcome": LIMITED, "retry_after": 2.0},
    "monthly_quota_429": {
        "outcome": PERMANENT,
        "error_code": "quota_exhausted",
        "message_contains": "monthly token quota",
    },
    "context_length_exceeded_400": {
        "outcome": PERMANENT,
        "error_code": "context_length_exceeded",
        "message_contains": "131072 maximum context length",
    },
    "invalid_model_400": {
        "outcome": PERMANENT,
        "error_code": "invalid_model",
        "message_contains": "mistral-huge-latest",
    },
    "unauthorized_401": {
        "outcome": PERMANENT,
        "error_code": "http_401",
        "error_message": "Unauthorized",
    },
    "unauthorized_detail_401": {
        "outcome": PERMANENT,
        "error_code": "http_401",
        "error_message": "Unauthorized",
    },
    "validation_error_422": {
        "outcome": PERMANENT,
        "error_code": "invalid_request_error",
        "message_contains": "greater than or equal to 0",
    },
    "internal_error_500": {"outcome": TRANSIENT, "error_code": "internal_server_error"},
    "service_unavailable_503": {
        "outcome": TRANSIENT,
        "error_code": "http_503",
        "message_contains": "upstream connect error",
    },
    "generation_error": {
        "outcome": TRANSIENT,
        "error_code": "generation_error",
        "finish_reason": "error",
        "output_tokens": 5,
    },
}

PATHS = fixture_paths("mistral")


def test_every_fixture_has_an_expectation() -> None:
    assert {path.stem for path in PATHS} == set(EXPECTED)


@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.stem)
def test_classifies_recorded_response(path: Path) -> None:
    fixture = load_fixture(path)
    result = MistralAdapter().parse_response(fixture.status, fixture.headers, fixture.body)
    check_expected(result, fixture.status, EXPECTED[fixture.name])


def test_build_request_uses_mistral_field_names() -> None:
    adapter = MistralAdapter()
    params = GenerationParams(
        system="Be brief.",
        temperature=0.3,
        max_tokens=100,
        top_p=0.95,
        stop=("###",),
        seed=42,
        response_format={"type": "json_object"},
    )
    request = adapter.build_request(
        PromptCall(
            base_url=adapter.default_base_url,
            api_key="mistral-key-abc",
            model="mistral-small-latest",
            prompt="Capital of France?",
            params=params,
        )
    )
    assert (adapter.name, request.method) == ("mistral", "POST")
    assert request.url == "https://api.mistral.ai/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer mistral-key-abc"
    assert request.json == {
        "model": "mistral-small-latest",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of France?"},
        ],
        "max_tokens": 100,
        "temperature": 0.3,
        "top_p": 0.95,
        "stop": ["###"],
        "random_seed": 42,
        "response_format": {"type": "json_object"},
    }
    assert adapter.unsupported(params) == []


def test_json_schema_passes_through() -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}
    params = GenerationParams(response_format=schema)
    adapter = MistralAdapter()
    request = adapter.build_request(
        PromptCall(
            base_url="https://api.mistral.ai", api_key="k", model="m", prompt="p", params=params
        )
    )
    assert request.json["response_format"] == schema
    assert "seed" not in request.json and "max_completion_tokens" not in request.json
    assert adapter.unsupported(params) == []
    assert adapter.unsupported(GenerationParams(response_format={"type": "yaml"})) == [
        "response_format"
    ]


def test_month_headers_alone_give_no_per_minute_limits() -> None:
    headers = {
        "x-ratelimit-limit-tokens-month": "200000000",
        "x-ratelimit-remaining-tokens-month": "5",
    }
    fixture = load_fixture(next(p for p in PATHS if p.stem == "success"))
    result = MistralAdapter().parse_response(200, headers, fixture.body)
    assert result.outcome is OK
    assert (result.signals.limit_tokens, result.signals.remaining_tokens) == (None, None)


def test_rate_limit_with_quota_left_this_month_is_flow_control() -> None:
    body = json.dumps({"object": "error", "message": "Rate limit exceeded", "code": "1300"})
    headers = {"x-ratelimit-remaining-tokens-month": "12"}
    result = MistralAdapter().parse_response(429, headers, body.encode())
    assert (result.outcome, result.error_code) == (LIMITED, "1300")


@given(status=statuses, body=bodies)
def test_parse_never_raises(status: int, body: bytes) -> None:
    result = MistralAdapter().parse_response(status, {"x-ratelimit-limit-req-minute": "?"}, body)
    assert result.outcome in expected_outcomes(status)
    assert result.status == status
