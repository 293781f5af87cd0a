"""Checks shared by the chat-completions adapter tests: expectations and parse robustness."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import strategies as st

from promptforge.providers.base import CallOutcome, CallResult, RateSignals

_RESULT_FIELDS = {f.name for f in dataclasses.fields(CallResult)}
_SIGNAL_FIELDS = {f.name for f in dataclasses.fields(RateSignals)}


def check_expected(result: CallResult, status: int, expected: dict[str, Any]) -> None:
    """``result`` matches every field named in ``expected`` and the rules every result obeys.

    Keys are ``CallResult`` or ``RateSignals`` field names, or ``message_contains``.
    """
    for key, want in expected.items():
        if key == "message_contains":
            assert result.error_message is not None and want in result.error_message
        elif key in _RESULT_FIELDS:
            assert getattr(result, key) == want, key
        elif key in _SIGNAL_FIELDS:
            assert getattr(result.signals, key) == want, key
        else:
            raise KeyError(f"unknown expectation {key!r}")
    assert result.status == status
    if result.outcome is CallOutcome.SUCCESS:
        assert result.text is not None and result.error_code is None
    else:
        assert result.text is None
        assert result.error_code and result.error_message


def expected_outcomes(status: int) -> set[CallOutcome]:
    """The outcomes a response with ``status`` may have, whatever its body."""
    if 200 <= status < 300:
        return {CallOutcome.SUCCESS, CallOutcome.TRANSIENT, CallOutcome.PERMANENT}
    if status == 429:
        return {CallOutcome.RATE_LIMITED, CallOutcome.PERMANENT}
    if status >= 500 or status in (408, 409):
        return {CallOutcome.TRANSIENT}
    return {CallOutcome.PERMANENT}


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
_json_keys = st.sampled_from(
    ["error", "message", "code", "type", "detail", "choices", "usage", "content", "refusal"]
)
_shaped = st.recursive(
    _json_values,
    lambda inner: st.dictionaries(_json_keys, inner, max_size=4) | st.lists(inner, max_size=3),
    max_leaves=16,
)

# Bodies a server might send: random bytes, any JSON, JSON shaped like a completion or error.
bodies = st.one_of(
    st.binary(max_size=200),
    _json_values.map(lambda value: json.dumps(value).encode()),
    _shaped.map(lambda value: json.dumps(value).encode()),
)
statuses = st.sampled_from([200, 201, 204, 301, 400, 401, 403, 404, 408, 409, 413, 422, 429])
statuses |= st.integers(min_value=100, max_value=599)
