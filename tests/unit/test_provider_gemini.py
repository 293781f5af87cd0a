"""The Gemini adapter: request shape, the ``unsupported`` list, response classification."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptforge.clock import FakeClock
from promptforge.core.models import GenerationParams
from promptforge.providers.base import CallOutcome, PromptCall, ProviderAdapter, RateSignals
from promptforge.providers.gemini import GeminiAdapter

FIXTURES = Path(__file__).parent.parent / "fixtures" / "providers" / "gemini"


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
    signals: RateSignals = field(default_factory=RateSignals)


EXPECTED: dict[str, Expected] = {
    "success": Expected(
        CallOutcome.SUCCESS,
        text="Paris is the capital of France.",
        finish_reason="STOP",
        input_tokens=8,
        output_tokens=7 + 30,
    ),
    "max_tokens": Expected(
        CallOutcome.SUCCESS,
        text="Once upon",
        finish_reason="MAX_TOKENS",
        input_tokens=5,
        output_tokens=2,
    ),
    "blocked_prompt_feedback": Expected(
        CallOutcome.PERMANENT, "safety_block", input_tokens=14, message_has="PROHIBITED_CONTENT"
    ),
    "finish_safety": Expected(
        CallOutcome.PERMANENT,
        "safety_block",
        finish_reason="SAFETY",
        input_tokens=21,
        output_tokens=4,
        message_has="SAFETY",
    ),
    "finish_recitation": Expected(
        CallOutcome.PERMANENT,
        "safety_block",
        finish_reason="RECITATION",
        input_tokens=9,
        output_tokens=11,
        message_has="RECITATION",
    ),
    "no_candidates": Expected(
        CallOutcome.PERMANENT, "blocked", input_tokens=6, message_has="no candidate"
    ),
    "rate_limited_per_minute_429": Expected(
        CallOutcome.RATE_LIMITED,
        "RESOURCE_EXHAUSTED",
        message_has="exceeded your current quota",
        signals=RateSignals(limit_requests=10, limit_input_tokens=250000, retry_after=1.0),
    ),
    "rate_limited_per_day_429": Expected(
        CallOutcome.RATE_LIMITED,
        "RESOURCE_EXHAUSTED",
        message_has="limit: 250",
        signals=RateSignals(retry_after=13.0, daily_quota_exhausted=True),
    ),
    "rate_limited_message_only_429": Expected(
        CallOutcome.RATE_LIMITED,
        "RESOURCE_EXHAUSTED",
        message_has="Please retry in 2.5s",
        signals=RateSignals(retry_after=2.5),
    ),
    "rate_limited_no_details_429": Expected(
        CallOutcome.RATE_LIMITED, "RESOURCE_EXHAUSTED", message_has="Resource has been exhausted"
    ),
    "quota_zero_429": Expected(
        CallOutcome.PERMANENT,
        "quota_zero",
        message_has="limit: 0",
        signals=RateSignals(retry_after=41.0),
    ),
    "credits_depleted_429": Expected(
        CallOutcome.PERMANENT, "credits_depleted", message_has="prepayment credits are depleted"
    ),
    "unavailable_503": Expected(CallOutcome.TRANSIENT, "UNAVAILABLE", message_has="overloaded"),
    "internal_500": Expected(CallOutcome.TRANSIENT, "INTERNAL", message_has="internal error"),
    "invalid_argument_400": Expected(
        CallOutcome.PERMANENT, "INVALID_ARGUMENT", message_has="input token count"
    ),
    "api_key_invalid_400": Expected(
        CallOutcome.PERMANENT, "INVALID_ARGUMENT", message_has="API key not valid"
    ),
    "location_400": Expected(
        CallOutcome.PERMANENT, "FAILED_PRECONDITION", message_has="location is not supported"
    ),
    "permission_denied_403": Expected(
        CallOutcome.PERMANENT, "PERMISSION_DENIED", message_has="unregistered callers"
    ),
    "not_found_404": Expected(CallOutcome.PERMANENT, "NOT_FOUND", message_has="gemini-0.1-nope"),
}


def test_every_fixture_has_an_expectation() -> None:
    assert {path.stem for path in FIXTURES.glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_fixture_is_classified(path: Path) -> None:
    expected = EXPECTED[path.stem]
    status, headers, body = load(path.stem)

    result = GeminiAdapter().parse_response(status, headers, body)

    assert result.outcome is expected.outcome
    assert result.status == status
    assert result.error_code == expected.error_code
    assert result.text == expected.text
    assert result.finish_reason == expected.finish_reason
    assert (result.input_tokens, result.output_tokens) == (
        expected.input_tokens,
        expected.output_tokens,
    )
    assert result.signals == expected.signals
    if expected.message_has is None:
        assert result.error_message is None
    else:
        assert result.error_message is not None
        assert expected.message_has in result.error_message


# --- retry delays -------------------------------------------------------------------------


def _quota_error(
    message: str = "Resource has been exhausted (e.g. check quota).",
    details: list[dict[str, Any]] | None = None,
) -> bytes:
    error: dict[str, Any] = {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED"}
    if details is not None:
        error["details"] = details
    return json.dumps({"error": error}).encode()


@pytest.mark.parametrize(
    ("body", "headers", "retry_after"),
    [
        (
            _quota_error(
                "Please retry in 9s.",
                [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.560s"}],
            ),
            {"retry-after": "30"},
            1.56,
        ),
        (_quota_error("Please retry in 54.915234075s."), {"retry-after": "30"}, 54.915234075),
        (_quota_error("please retry in 500ms"), {}, 0.5),
        (_quota_error(), {"retry-after": "30"}, 30.0),
        (_quota_error(), {"retry-after": "later"}, None),
        (
            _quota_error(
                details=[{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "x"}]
            ),
            {},
            None,
        ),
    ],
    ids=["retry-info-first", "message", "message-ms", "header", "bad-header", "bad-delay"],
)
def test_retry_after_sources_in_order(
    body: bytes, headers: dict[str, str], retry_after: float | None
) -> None:
    result = GeminiAdapter().parse_response(429, headers, body)
    assert result.outcome is CallOutcome.RATE_LIMITED
    assert result.signals.retry_after == (
        None if retry_after is None else pytest.approx(retry_after)
    )


def test_retry_after_header_as_an_http_date_uses_the_clock() -> None:
    clock = FakeClock(datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC))
    headers = {"retry-after": "Thu, 01 Jan 2026 12:00:25 GMT"}
    signals = GeminiAdapter(clock=clock).parse_response(503, headers, b"").signals
    assert signals.retry_after == pytest.approx(25.0)


def test_a_zero_retry_delay_is_kept() -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0s"}]
    body = _quota_error(details=details)
    signals = GeminiAdapter().parse_response(429, {"retry-after": "30"}, body).signals
    assert signals.retry_after == 0.0


def test_paid_tier_token_quota_sets_the_input_token_limit() -> None:
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaId": "GenerateContentPaidTierInputTokensPerModelPerMinute",
                    "quotaValue": "2000000",
                }
            ],
        }
    ]
    signals = GeminiAdapter().parse_response(429, {}, _quota_error(details=details)).signals
    assert signals.limit_input_tokens == 2_000_000
    assert signals.limit_requests is None
    assert signals.daily_quota_exhausted is False


# --- malformed and unusual responses --------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "outcome", "code"),
    [
        (200, b"not json", CallOutcome.TRANSIENT, "malformed_response"),
        (200, b"[]", CallOutcome.TRANSIENT, "malformed_response"),
        (200, b'{"candidates": []}', CallOutcome.PERMANENT, "blocked"),
        (200, b'{"candidates": ["x"]}', CallOutcome.PERMANENT, "blocked"),
        (502, b"<html>Bad Gateway</html>", CallOutcome.TRANSIENT, "http_502"),
        (504, b"", CallOutcome.TRANSIENT, "http_504"),
        (408, b"", CallOutcome.TRANSIENT, "http_408"),
        (429, b"", CallOutcome.RATE_LIMITED, "http_429"),
        (401, b"{}", CallOutcome.PERMANENT, "http_401"),
        (
            504,
            b'{"error":{"code":504,"message":"Deadline","status":"DEADLINE_EXCEEDED"}}',
            CallOutcome.TRANSIENT,
            "DEADLINE_EXCEEDED",
        ),
    ],
)
def test_classification_by_status_when_the_body_does_not_help(
    status: int, body: bytes, outcome: CallOutcome, code: str
) -> None:
    result = GeminiAdapter().parse_response(status, {}, body)
    assert (result.outcome, result.error_code) == (outcome, code)
    assert result.error_message


def test_candidate_without_content_is_an_empty_success() -> None:
    body = json.dumps(
        {
            "candidates": [{"finishReason": "MAX_TOKENS", "index": 0}],
            "usageMetadata": {"promptTokenCount": 3, "thoughtsTokenCount": 64},
        }
    ).encode()
    result = GeminiAdapter().parse_response(200, {}, body)
    assert result.outcome is CallOutcome.SUCCESS
    assert result.text == ""
    assert (result.input_tokens, result.output_tokens) == (3, 64)


def _keys(value: Any) -> set[str]:
    """Every object key in a JSON value."""
    if isinstance(value, dict):
        return set(value).union(*map(_keys, value.values()))
    if isinstance(value, list):
        return set().union(*map(_keys, value))
    return set()


# Bodies built from the keys the real fixtures use reach deep into the parser.
_BODY_KEYS = sorted(
    set().union(*(_keys(json.loads(p.read_text())) for p in FIXTURES.glob("*.json")))
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(_BODY_KEYS),
            inner,
            max_size=4,
        )
    ),
    max_leaves=14,
)


@settings(max_examples=150, deadline=None)
@given(
    status=st.integers(min_value=100, max_value=599),
    retry_after=st.none() | st.text(max_size=12),
    body=st.binary(max_size=64) | _JSON.map(lambda value: json.dumps(value).encode()),
)
def test_parse_response_never_raises(status: int, retry_after: str | None, body: bytes) -> None:
    headers = {} if retry_after is None else {"retry-after": retry_after}
    result = GeminiAdapter().parse_response(status, headers, body)
    assert result.status == status
    assert result.input_tokens >= 0
    assert result.output_tokens >= 0
    if result.outcome is not CallOutcome.SUCCESS:
        assert result.error_code
        assert result.error_message


# --- requests -------------------------------------------------------------------------------


def build(params: GenerationParams, model: str = "gemini-2.5-flash") -> Any:
    """The request for the prompt "Hi" with ``params``."""
    return GeminiAdapter().build_request(
        PromptCall(
            base_url="https://generativelanguage.googleapis.com",
            api_key="AIza-secret",
            model=model,
            prompt="Hi",
            params=params,
        )
    )


def test_minimal_request() -> None:
    request = build(GenerationParams())

    assert request.method == "POST"
    assert request.url == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert request.headers == {"x-goog-api-key": "AIza-secret", "content-type": "application/json"}
    assert request.json == {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
    assert "AIza-secret" not in request.url


def test_model_resource_name_and_base_url_slash() -> None:
    request = GeminiAdapter().build_request(
        PromptCall(
            base_url="http://127.0.0.1:9000/",
            api_key="k",
            model="models/gemini-2.0-flash",
            prompt="p",
            params=GenerationParams(),
        )
    )
    assert request.url == "http://127.0.0.1:9000/v1beta/models/gemini-2.0-flash:generateContent"


def test_system_becomes_system_instruction() -> None:
    body = build(GenerationParams(system="Answer in French.")).json
    assert body["systemInstruction"] == {"parts": [{"text": "Answer in French."}]}
    assert "generationConfig" not in body


SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.mark.parametrize(
    ("params", "config"),
    [
        (GenerationParams(max_tokens=50), {"maxOutputTokens": 50}),
        (GenerationParams(temperature=0.0), {"temperature": 0.0}),
        (GenerationParams(temperature=1.7), {"temperature": 1.7}),
        (GenerationParams(top_p=0.95), {"topP": 0.95}),
        (GenerationParams(stop=("END",)), {"stopSequences": ["END"]}),
        (GenerationParams(seed=0), {"seed": 0}),
        (GenerationParams(seed=42), {"seed": 42}),
        (
            GenerationParams(response_format={"type": "json_object"}),
            {"responseMimeType": "application/json"},
        ),
        (
            GenerationParams(
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "city", "schema": SCHEMA, "strict": True},
                }
            ),
            {"responseMimeType": "application/json", "responseJsonSchema": SCHEMA},
        ),
        (GenerationParams(response_format={"type": "text"}), None),
        (
            GenerationParams(max_tokens=10, temperature=0.2, top_p=0.5, stop=("a", "b"), seed=1),
            {
                "maxOutputTokens": 10,
                "temperature": 0.2,
                "topP": 0.5,
                "stopSequences": ["a", "b"],
                "seed": 1,
            },
        ),
    ],
)
def test_generation_config(params: GenerationParams, config: dict[str, Any] | None) -> None:
    body = build(params).json
    assert body.get("generationConfig") == config
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Hi"}]}]


@pytest.mark.parametrize(
    ("params", "names"),
    [
        (GenerationParams(), []),
        (
            GenerationParams(
                system="s",
                temperature=2.0,
                max_tokens=5,
                top_p=0.5,
                stop=("1", "2", "3", "4", "5"),
                seed=9,
                response_format={"type": "json_object"},
            ),
            [],
        ),
        (GenerationParams(stop=("1", "2", "3", "4", "5", "6")), ["stop"]),
        (GenerationParams(response_format={"type": "xml"}), ["response_format"]),
        (GenerationParams(response_format={"type": "json_schema"}), ["response_format"]),
        (
            GenerationParams(response_format={"type": "json_schema", "json_schema": {"name": "x"}}),
            ["response_format"],
        ),
    ],
)
def test_unsupported(params: GenerationParams, names: list[str]) -> None:
    assert GeminiAdapter().unsupported(params) == names


def test_satisfies_the_adapter_protocol() -> None:
    adapter: ProviderAdapter = GeminiAdapter()
    assert adapter.name == "gemini"
    assert adapter.default_base_url == "https://generativelanguage.googleapis.com"
