"""OpenAIAdapter: request shape, and the classification of recorded OpenAI responses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from promptforge.clock import FakeClock
from promptforge.core.models import GenerationParams
from promptforge.providers.base import CallOutcome, PromptCall
from promptforge.providers.openai import OpenAIAdapter
from tests.unit._wire_checks import bodies, check_expected, expected_outcomes, statuses
from tests.unit._wire_fixtures import fixture_paths, load_fixture

OK = CallOutcome.SUCCESS
LIMITED = CallOutcome.RATE_LIMITED
TRANSIENT = CallOutcome.TRANSIENT
PERMANENT = CallOutcome.PERMANENT

EXPECTED: dict[str, dict[str, Any]] = {
    "success": {
        "outcome": OK,
        "text": "The capital of France is Paris.",
        "finish_reason": "stop",
        "input_tokens": 19,
        "output_tokens": 10,
        "limit_requests": 10000,
        "limit_tokens": 30000000,
        "remaining_requests": 9999,
        "remaining_tokens": 29999975,
        "reset_requests": pytest.approx(0.006),
        "reset_tokens": 0.0,
        "retry_after": None,
    },
    "success_length": {
        "outcome": OK,
        "finish_reason": "length",
        "output_tokens": 8,
        "reset_tokens": pytest.approx(0.004),
    },
    "rate_limit_tokens_429": {
        "outcome": LIMITED,
        "error_code": "rate_limit_exceeded",
        "retry_after": pytest.approx(0.644),
        "limit_tokens": 30000,
        "remaining_tokens": 0,
        "reset_tokens": pytest.approx(1.288),
        "reset_requests": pytest.approx(0.12),
        "daily_quota_exhausted": False,
        "message_contains": "tokens per min (TPM)",
    },
    "rate_limit_retry_after_429": {
        "outcome": LIMITED,
        "retry_after": 20.0,
        "remaining_requests": 0,
        "reset_requests": 20.0,
    },
    "rate_limit_per_day_429": {
        "outcome": LIMITED,
        "error_code": "rate_limit_exceeded",
        "retry_after": 360.0,
        "daily_quota_exhausted": True,
    },
    "insufficient_quota_429": {
        "outcome": PERMANENT,
        "error_code": "insufficient_quota",
        "message_contains": "exceeded your current quota",
    },
    "request_too_large_429": {
        "outcome": PERMANENT,
        "error_code": "request_too_large",
        "message_contains": "Requested 48213",
        "limit_tokens": 30000,
    },
    "server_error_500": {"outcome": TRANSIENT, "error_code": "server_error"},
    "overloaded_503": {
        "outcome": TRANSIENT,
        "error_code": "server_error",
        "message_contains": "overloaded",
    },
    "bad_gateway_html_502": {
        "outcome": TRANSIENT,
        "error_code": "http_502",
        "message_contains": "502 Bad Gateway",
    },
    "context_length_exceeded_400": {
        "outcome": PERMANENT,
        "error_code": "context_length_exceeded",
        "message_contains": "maximum context length is 128000 tokens",
    },
    "invalid_api_key_401": {
        "outcome": PERMANENT,
        "error_code": "invalid_api_key",
        "message_contains": "Incorrect API key",
    },
    "model_not_found_404": {"outcome": PERMANENT, "error_code": "model_not_found"},
    "content_filter": {
        "outcome": PERMANENT,
        "error_code": "content_filter",
        "finish_reason": "content_filter",
        "input_tokens": 25,
    },
    "refusal": {
        "outcome": PERMANENT,
        "error_code": "refusal",
        "message_contains": "can't help with that",
        "output_tokens": 12,
    },
    "truncated_success": {"outcome": TRANSIENT, "error_code": "malformed_response"},
}

PATHS = fixture_paths("openai")


def test_every_fixture_has_an_expectation() -> None:
    assert {path.stem for path in PATHS} == set(EXPECTED)


@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.stem)
def test_classifies_recorded_response(path: Path) -> None:
    fixture = load_fixture(path)
    result = OpenAIAdapter().parse_response(fixture.status, fixture.headers, fixture.body)
    check_expected(result, fixture.status, EXPECTED[fixture.name])


ALL_PARAMS = GenerationParams(
    system="Answer in one word.",
    temperature=0.2,
    max_tokens=64,
    top_p=0.9,
    stop=("\n\n", "END"),
    seed=7,
    response_format={"type": "json_object"},
)


def test_build_request_with_every_option() -> None:
    request = OpenAIAdapter().build_request(
        PromptCall(
            base_url="https://api.openai.com",
            api_key="sk-test-123",
            model="gpt-4o-mini",
            prompt="Capital of France?",
            params=ALL_PARAMS,
        )
    )
    assert request.method == "POST"
    assert request.url == "https://api.openai.com/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-test-123"
    assert request.json == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": "Capital of France?"},
        ],
        "max_completion_tokens": 64,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["\n\n", "END"],
        "seed": 7,
        "response_format": {"type": "json_object"},
    }
    json.dumps(request.json)  # ready to send as is


def test_build_request_leaves_unset_options_out() -> None:
    request = OpenAIAdapter().build_request(
        PromptCall(
            base_url="https://api.openai.com/",
            api_key="k" * 10,
            model="gpt-4o",
            prompt="hi",
            params=GenerationParams(),
        )
    )
    assert request.json == {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def test_json_schema_response_format_passes_through() -> None:
    schema = {
        "type": "json_schema",
        "json_schema": {
            "name": "answer",
            "strict": True,
            "schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    params = GenerationParams(response_format=schema)
    adapter = OpenAIAdapter()
    request = adapter.build_request(
        PromptCall(
            base_url="https://api.openai.com", api_key="k", model="m", prompt="p", params=params
        )
    )
    assert request.json["response_format"] == schema
    assert adapter.unsupported(params) == []


def test_openai_compatible_server_uses_max_tokens() -> None:
    adapter = OpenAIAdapter(
        name="openai_compatible",
        default_base_url="http://127.0.0.1:8000",
        max_tokens_field="max_tokens",
    )
    request = adapter.build_request(
        PromptCall(
            base_url="http://127.0.0.1:8000/v1/",
            api_key="",
            model="llama",
            prompt="hi",
            params=GenerationParams(max_tokens=32),
        )
    )
    assert adapter.name == "openai_compatible"
    assert request.url == "http://127.0.0.1:8000/v1/chat/completions"
    assert request.json["max_tokens"] == 32
    assert "max_completion_tokens" not in request.json
    assert "Authorization" not in request.headers  # no key, no header


def test_rejects_an_unknown_max_tokens_field() -> None:
    with pytest.raises(ValueError, match="max_tokens_field"):
        OpenAIAdapter(max_tokens_field="max_output_tokens")


def test_unsupported_lists_nothing_for_valid_options() -> None:
    assert OpenAIAdapter().unsupported(ALL_PARAMS) == []
    assert OpenAIAdapter().unsupported(GenerationParams()) == []


@pytest.mark.parametrize(
    "response_format", [{"type": "xml"}, {"type": "json_schema"}, {"schema": {}}]
)
def test_unsupported_flags_a_malformed_response_format(response_format: dict[str, Any]) -> None:
    params = GenerationParams(response_format=response_format)
    assert OpenAIAdapter().unsupported(params) == ["response_format"]


def _rate_limit_body(message: str, code: str | None = "rate_limit_exceeded") -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": "tokens", "param": None, "code": code}}
    ).encode()


@pytest.mark.parametrize(
    ("headers", "want"),
    [
        ({"retry-after-ms": "644", "retry-after": "1"}, 0.644),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "soon"}, 1.2),  # unreadable header: the message decides
        ({}, 1.2),
        (
            {
                "retry-after": "Thu, 01 Jan 2026 00:00:30 GMT",
                "date": "Thu, 01 Jan 2026 00:00:00 GMT",
            },
            30.0,
        ),
        ({"retry-after": "Thu, 01 Jan 2026 00:00:30 GMT"}, 20.0),  # no date: the clock's now
    ],
)
def test_retry_after_precedence(headers: dict[str, str], want: float) -> None:
    clock = FakeClock(datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC))
    body = _rate_limit_body("Limit 3, Used 3, Requested 1. Please try again in 1.2s. Visit ...")
    result = OpenAIAdapter(clock=clock).parse_response(429, headers, body)
    assert result.outcome is LIMITED
    assert result.signals.retry_after == pytest.approx(want)


def test_rate_limit_without_code_or_json_is_still_flow_control() -> None:
    no_code = OpenAIAdapter().parse_response(429, {}, _rate_limit_body("Too many", None))
    assert (no_code.outcome, no_code.error_code) == (LIMITED, "rate_limit_exceeded")
    not_json = OpenAIAdapter().parse_response(429, {"retry-after": "2"}, b"Too Many Requests")
    assert not_json.outcome is LIMITED
    assert not_json.signals.retry_after == 2.0
    assert "Too Many Requests" in (not_json.error_message or "")


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (400, PERMANENT),
        (402, PERMANENT),
        (403, PERMANENT),
        (413, PERMANENT),
        (422, PERMANENT),
        (418, PERMANENT),
        (408, TRANSIENT),
        (409, TRANSIENT),
        (502, TRANSIENT),
        (504, TRANSIENT),
        (520, TRANSIENT),
    ],
)
def test_status_table(status: int, outcome: CallOutcome) -> None:
    body = json.dumps({"error": {"message": "nope", "type": "some_type", "code": None}}).encode()
    result = OpenAIAdapter().parse_response(status, {}, body)
    assert (result.outcome, result.error_code, result.error_message) == (
        outcome,
        "some_type",
        "nope",
    )


def test_partial_text_cut_by_content_filter_is_kept() -> None:
    body = {
        "choices": [{"message": {"content": "Part of it"}, "finish_reason": "content_filter"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
    }
    result = OpenAIAdapter().parse_response(200, {}, json.dumps(body).encode())
    assert (result.outcome, result.text, result.finish_reason) == (
        OK,
        "Part of it",
        "content_filter",
    )


def test_content_parts_are_joined_and_missing_usage_counts_zero() -> None:
    parts = [
        {"type": "text", "text": "Hello, "},
        {"type": "image"},
        {"type": "text", "text": "you"},
    ]
    body = {"choices": [{"message": {"content": parts}, "finish_reason": "stop"}]}
    result = OpenAIAdapter().parse_response(200, {}, json.dumps(body).encode())
    assert (result.outcome, result.text, result.tokens_used) == (OK, "Hello, you", 0)


def test_null_content_without_a_reason_is_transient() -> None:
    body = {"choices": [{"message": {"content": None}, "finish_reason": "stop"}]}
    result = OpenAIAdapter().parse_response(200, {}, json.dumps(body).encode())
    assert (result.outcome, result.error_code) == (TRANSIENT, "empty_response")


def test_unreadable_headers_are_ignored() -> None:
    headers = {"x-ratelimit-limit-requests": "lots", "x-ratelimit-reset-tokens": "1 minute"}
    fixture = load_fixture(next(p for p in PATHS if p.stem == "success"))
    result = OpenAIAdapter().parse_response(200, headers, fixture.body)
    assert result.outcome is OK
    assert (result.signals.limit_requests, result.signals.reset_tokens) == (None, None)


@given(status=statuses, body=bodies)
def test_parse_never_raises(status: int, body: bytes) -> None:
    result = OpenAIAdapter().parse_response(status, {"retry-after": "x"}, body)
    assert result.outcome in expected_outcomes(status)
    assert result.status == status
