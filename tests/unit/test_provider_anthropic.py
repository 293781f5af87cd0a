"""The Anthropic adapter: request shape, the ``unsupported`` list, response classification."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptforge.clock import FakeClock
from promptforge.core.models import GenerationParams
from promptforge.providers.anthropic import API_VERSION, AnthropicAdapter
from promptforge.providers.base import CallOutcome, PromptCall, ProviderAdapter

FIXTURES = Path(__file__).parent.parent / "fixtures" / "providers" / "anthropic"
NOON = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)  # the fixtures' `date` header


def load(name: str) -> tuple[int, dict[str, str], bytes]:
    """A fixture as the HTTP layer hands it over: status, lower-case headers, raw body."""
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    headers = {key.lower(): value for key, value in data["headers"].items()}
    return data["status"], headers, json.dumps(data["body"]).encode()


@dataclass(frozen=True)
class Expected:
    """What one fixture must classify as."""

    outcome: CallOutcome
    error_code: str | None = None
    text: str | None = None
    finish_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    message_has: str | None = None


EXPECTED: dict[str, Expected] = {
    "success": Expected(
        CallOutcome.SUCCESS,
        text="Hello! How can I help?",
        finish_reason="end_turn",
        input_tokens=12 + 100 + 30,
        output_tokens=9,
    ),
    "max_tokens": Expected(
        CallOutcome.SUCCESS,
        text="Once upon a",
        finish_reason="max_tokens",
        input_tokens=20,
        output_tokens=3,
    ),
    "refusal": Expected(
        CallOutcome.PERMANENT,
        "safety_block",
        finish_reason="refusal",
        input_tokens=41,
        message_has="refusal",
    ),
    "rate_limited_429": Expected(
        CallOutcome.RATE_LIMITED, "rate_limit_error", message_has="40,000 input tokens"
    ),
    "spend_limit_429": Expected(
        CallOutcome.PERMANENT, "spend_limit_reached", message_has="regain access on 2026-02-01"
    ),
    "overloaded_529": Expected(CallOutcome.TRANSIENT, "overloaded_error", message_has="Overloaded"),
    "api_error_500": Expected(CallOutcome.TRANSIENT, "api_error", message_has="Internal"),
    "prompt_too_long_400": Expected(
        CallOutcome.PERMANENT, "invalid_request_error", message_has="prompt is too long"
    ),
    "credit_balance_400": Expected(
        CallOutcome.PERMANENT, "invalid_request_error", message_has="credit balance is too low"
    ),
    "authentication_401": Expected(
        CallOutcome.PERMANENT, "authentication_error", message_has="invalid x-api-key"
    ),
    "not_found_404": Expected(
        CallOutcome.PERMANENT, "not_found_error", message_has="claude-does-not-exist"
    ),
    "request_too_large_413": Expected(
        CallOutcome.PERMANENT, "request_too_large", message_has="maximum allowed"
    ),
}


def test_every_fixture_has_an_expectation() -> None:
    assert {path.stem for path in FIXTURES.glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_fixture_is_classified(path: Path) -> None:
    expected = EXPECTED[path.stem]
    status, headers, body = load(path.stem)

    result = AnthropicAdapter(clock=FakeClock(NOON)).parse_response(status, headers, body)

    assert result.outcome is expected.outcome
    assert result.status == status
    assert result.error_code == expected.error_code
    assert result.text == expected.text
    assert result.finish_reason == expected.finish_reason
    assert (result.input_tokens, result.output_tokens) == (
        expected.input_tokens,
        expected.output_tokens,
    )
    if expected.message_has is None:
        assert result.error_message is None
    else:
        assert result.error_message is not None
        assert expected.message_has in result.error_message


# --- rate-limit headers -------------------------------------------------------------


def test_success_headers_become_signals_relative_to_the_date_header() -> None:
    status, headers, body = load("success")
    far_away = FakeClock(datetime(2030, 6, 1, tzinfo=UTC))  # the `date` header wins

    signals = AnthropicAdapter(clock=far_away).parse_response(status, headers, body).signals

    assert (signals.limit_requests, signals.remaining_requests) == (50, 49)
    assert (signals.limit_tokens, signals.remaining_tokens) == (48000, 46000)
    assert (signals.limit_input_tokens, signals.remaining_input_tokens) == (40000, 39000)
    assert (signals.limit_output_tokens, signals.remaining_output_tokens) == (8000, 7000)
    assert signals.reset_requests == pytest.approx(1.0)
    assert signals.reset_tokens == pytest.approx(3.0)
    assert signals.retry_after is None
    assert signals.daily_quota_exhausted is False


def test_without_a_date_header_resets_are_measured_from_the_clock() -> None:
    status, headers, body = load("success")
    del headers["date"]
    clock = FakeClock(NOON)
    clock.advance(2)

    signals = AnthropicAdapter(clock=clock).parse_response(status, headers, body).signals

    assert signals.reset_requests == 0.0  # already past: never negative
    assert signals.reset_tokens == pytest.approx(1.0)


def test_rate_limited_response_carries_retry_after_and_split_token_reset() -> None:
    status, headers, body = load("rate_limited_429")

    signals = AnthropicAdapter().parse_response(status, headers, body).signals

    assert signals.retry_after == 7.0
    assert signals.remaining_requests == 0
    assert signals.reset_requests == pytest.approx(7.0)
    # No combined tokens-* headers: the later of the input and output resets stands in.
    assert signals.reset_tokens == pytest.approx(30.0)
    assert signals.limit_tokens is None
    assert signals.remaining_input_tokens == 0


def test_fractional_and_offset_reset_times() -> None:
    headers = {
        "date": "Thu, 01 Jan 2026 12:00:00 GMT",
        "anthropic-ratelimit-requests-reset": "2026-01-01T12:00:01.500000Z",
        "anthropic-ratelimit-tokens-reset": "2026-01-01T13:00:20+01:00",
    }
    signals = AnthropicAdapter().parse_response(429, headers, b"").signals
    assert signals.reset_requests == pytest.approx(1.5)
    assert signals.reset_tokens == pytest.approx(20.0)


def test_retry_after_as_an_http_date() -> None:
    headers = {
        "date": "Thu, 01 Jan 2026 12:00:00 GMT",
        "retry-after": "Thu, 01 Jan 2026 12:00:42 GMT",
    }
    signals = AnthropicAdapter().parse_response(429, headers, b"").signals
    assert signals.retry_after == pytest.approx(42.0)


def test_unreadable_headers_are_ignored() -> None:
    headers = {
        "date": "yesterday",
        "retry-after": "soon",
        "anthropic-ratelimit-requests-limit": "fifty",
        "anthropic-ratelimit-requests-reset": "not a time",
        "anthropic-ratelimit-tokens-remaining": "-",
    }
    result = AnthropicAdapter(clock=FakeClock(NOON)).parse_response(429, headers, b"{}")
    assert result.outcome is CallOutcome.RATE_LIMITED
    assert result.signals.limit_requests is None
    assert result.signals.reset_requests is None
    assert result.signals.remaining_tokens is None
    assert result.signals.retry_after is None


# --- malformed and unusual responses --------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "outcome", "code"),
    [
        (200, b"not json", CallOutcome.TRANSIENT, "malformed_response"),
        (200, b'{"type": "message"}', CallOutcome.TRANSIENT, "malformed_response"),
        (200, b"[1, 2]", CallOutcome.TRANSIENT, "malformed_response"),
        (500, b"<html>502 Bad Gateway</html>", CallOutcome.TRANSIENT, "http_500"),
        (502, b"", CallOutcome.TRANSIENT, "http_502"),
        (408, b"", CallOutcome.TRANSIENT, "http_408"),
        (429, b"", CallOutcome.RATE_LIMITED, "http_429"),
        (413, b"<html>413 Request Entity Too Large</html>", CallOutcome.PERMANENT, "http_413"),
        (
            402,
            b'{"type":"error","error":{"type":"billing_error","message":"Payment required"}}',
            CallOutcome.PERMANENT,
            "billing_error",
        ),
        (
            403,
            b'{"type":"error","error":{"type":"permission_error","message":"no access"}}',
            CallOutcome.PERMANENT,
            "permission_error",
        ),
    ],
)
def test_classification_by_status_when_the_body_does_not_help(
    status: int, body: bytes, outcome: CallOutcome, code: str
) -> None:
    result = AnthropicAdapter().parse_response(status, {}, body)
    assert (result.outcome, result.error_code) == (outcome, code)
    assert result.error_message


def test_error_message_quotes_a_non_json_body() -> None:
    result = AnthropicAdapter().parse_response(503, {}, b"upstream connect error")
    assert result.error_message == "HTTP 503: upstream connect error"


def test_success_with_only_non_text_blocks_is_an_empty_string() -> None:
    body = json.dumps(
        {"content": [{"type": "tool_use", "id": "t1", "name": "x", "input": {}}], "usage": {}}
    ).encode()
    result = AnthropicAdapter().parse_response(200, {}, body)
    assert result.outcome is CallOutcome.SUCCESS
    assert result.text == ""
    assert result.tokens_used == 0


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "error",
                    "message",
                    "content",
                    "text",
                    "usage",
                    "input_tokens",
                    "stop_reason",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
_HEADER_NAMES = st.sampled_from(
    [
        "date",
        "retry-after",
        "anthropic-ratelimit-requests-limit",
        "anthropic-ratelimit-requests-reset",
        "anthropic-ratelimit-tokens-reset",
        "anthropic-ratelimit-input-tokens-reset",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    status=st.integers(min_value=100, max_value=599),
    headers=st.dictionaries(_HEADER_NAMES, st.text(max_size=40), max_size=4),
    body=st.binary(max_size=64) | _JSON.map(lambda value: json.dumps(value).encode()),
)
def test_parse_response_never_raises(status: int, headers: dict[str, str], body: bytes) -> None:
    result = AnthropicAdapter(clock=FakeClock(NOON)).parse_response(status, headers, body)
    assert result.status == status
    assert result.input_tokens >= 0
    assert result.output_tokens >= 0
    if result.outcome is not CallOutcome.SUCCESS:
        assert result.error_code
        assert result.error_message


# --- requests ---------------------------------------------------------------------------


def build(params: GenerationParams, adapter: AnthropicAdapter | None = None) -> Any:
    """The request for the prompt "Hi" with ``params``."""
    return (adapter or AnthropicAdapter()).build_request(
        PromptCall(
            base_url="https://api.anthropic.com",
            api_key="sk-ant-secret",
            model="claude-haiku-4-5",
            prompt="Hi",
            params=params,
        )
    )


def test_minimal_request() -> None:
    request = build(GenerationParams())

    assert request.method == "POST"
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert request.headers == {
        "x-api-key": "sk-ant-secret",
        "anthropic-version": API_VERSION,
        "content-type": "application/json",
    }
    assert request.json == {
        "model": "claude-haiku-4-5",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Hi"}],
    }


def test_base_url_trailing_slash_and_custom_base() -> None:
    request = AnthropicAdapter().build_request(
        PromptCall(
            base_url="http://127.0.0.1:8123/",
            api_key="k",
            model="m",
            prompt="p",
            params=GenerationParams(),
        )
    )
    assert request.url == "http://127.0.0.1:8123/v1/messages"


@pytest.mark.parametrize(
    ("params", "key", "value"),
    [
        (GenerationParams(system="Be terse."), "system", "Be terse."),
        (GenerationParams(temperature=0.0), "temperature", 0.0),
        (GenerationParams(temperature=0.7), "temperature", 0.7),
        (GenerationParams(top_p=0.9), "top_p", 0.9),
        (GenerationParams(stop=("END", "\n\n")), "stop_sequences", ["END", "\n\n"]),
        (GenerationParams(max_tokens=77), "max_tokens", 77),
    ],
)
def test_each_option_maps_to_its_field(params: GenerationParams, key: str, value: Any) -> None:
    body = build(params).json
    assert body[key] == value
    baseline = build(GenerationParams()).json
    changed = {k for k in body if body[k] != baseline.get(k)}
    assert changed == {key}


def test_default_max_tokens_is_configurable_and_validated() -> None:
    assert (
        build(GenerationParams(), AnthropicAdapter(default_max_tokens=256)).json["max_tokens"]
        == 256
    )
    with pytest.raises(ValueError, match="default_max_tokens"):
        AnthropicAdapter(default_max_tokens=0)


def test_unsupported_options_never_reach_the_wire() -> None:
    params = GenerationParams(seed=7, response_format={"type": "json_object"})
    body = build(params).json
    assert "seed" not in body
    assert "response_format" not in body
    assert "sk-ant-secret" not in json.dumps(body)


@pytest.mark.parametrize(
    ("params", "names"),
    [
        (GenerationParams(), []),
        (
            GenerationParams(system="s", temperature=1.0, max_tokens=5, top_p=0.5, stop=("x",)),
            [],
        ),
        (GenerationParams(seed=1), ["seed"]),
        (GenerationParams(seed=0), ["seed"]),
        (GenerationParams(response_format={"type": "json_object"}), ["response_format"]),
        (GenerationParams(seed=3, response_format={"type": "text"}), ["seed", "response_format"]),
        (GenerationParams(temperature=1.5), ["temperature"]),
    ],
)
def test_unsupported(params: GenerationParams, names: list[str]) -> None:
    assert AnthropicAdapter().unsupported(params) == names


def test_satisfies_the_adapter_protocol() -> None:
    adapter: ProviderAdapter = AnthropicAdapter()
    assert adapter.name == "anthropic"
    assert adapter.default_base_url == "https://api.anthropic.com"
