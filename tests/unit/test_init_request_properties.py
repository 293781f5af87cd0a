"""Properties of the init body parser: any bytes, any JSON → a request or a 400 with a known code.

Never another exception (which the API would turn into a 500): not for deep nesting,
5,000-digit integers, lone surrogates, NaN, wrongly typed fields or unknown ones. A body
that parses is a complete request: its generation options build, and it survives a round
trip through its own JSON form.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from promptforge.core.requests import MAX_INIT_BODY_BYTES, InitRequest, parse_init_request
from promptforge.errors import BadRequest

CODES = frozenset({"malformed_json", "missing_field", "unknown_field", "invalid_field"})
FIELDS = (
    "provider",
    "model",
    "max_retries",
    "rpm",
    "tpm",
    "system",
    "temperature",
    "max_tokens",
    "top_p",
    "stop",
    "seed",
    "response_format",
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.text(st.characters(categories=("Cs", "Lu")), max_size=3),  # lone surrogates
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
plausible = {
    "provider": st.sampled_from(["openai", "anthropic", "gemini", "mistral", "cohere", ""]),
    "model": st.sampled_from(["gpt-4o-mini", "x" * 201, ""]),
    "max_retries": st.integers(-2, 25),
    "temperature": st.one_of(st.integers(-1, 3), st.floats(-1, 3)),
    "stop": st.lists(st.text(max_size=4), max_size=6),
    "seed": st.integers(min_value=-(2**64), max_value=2**64),
    "response_format": st.one_of(
        st.fixed_dictionaries({"type": st.sampled_from(["json_object", "json_schema", "xml"])}),
        st.fixed_dictionaries(
            {"type": st.just("json_schema"), "json_schema": json_values},
        ),
    ),
}
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            name: st.one_of(json_values, plausible.get(name, json_values)) for name in FIELDS
        },
    ),
    st.fixed_dictionaries(
        {"provider": st.just("openai"), "model": st.just("gpt-4o-mini")},
        optional={
            "extra": json_values,
            **{k: v for k, v in plausible.items() if k not in ("provider", "model")},
        },
    ),
)


def _check(body: bytes) -> InitRequest | None:
    """Parse ``body``; a refusal must be a 400 with a known code and a message."""
    try:
        request = parse_init_request(body)
    except BadRequest as exc:
        assert exc.status == 400
        assert exc.code in CODES, exc.code
        assert exc.message
        json.dumps(exc.body())  # renders as JSON
        return None
    params = request.params()  # the options build
    again = InitRequest.model_validate_json(request.model_dump_json(by_alias=True))
    assert again == request and again.params() == params
    assert 0 <= request.max_retries <= 20
    assert request.seed is None or -(2**63) <= request.seed < 2**63
    assert request.temperature is None or math.isfinite(request.temperature)
    return request


@settings(max_examples=500, deadline=None)
@given(body=bodies)
@example(body={"provider": "openai", "model": "gpt-4o-mini", "temperature": 10**400})
@example(body={"provider": "openai", "model": "gpt-4o-mini", "seed": 10**30})
@example(body={"provider": "openai", "model": "\ud800"})
def test_any_json_is_a_request_or_a_400_with_a_known_code(body: Any) -> None:
    _check(json.dumps(body).encode())


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=200))
@example(body=b"[" * 30_000)
@example(body=b'{"provider": "openai", "model": "m", "seed": 1' + b"0" * 5000 + b"}")
@example(body=b"\xff\xfe{\x00}\x00")
@example(body=b'{"provider": "openai", "model": "m", "temperature": NaN}')
def test_any_bytes_are_a_request_or_a_400(body: bytes) -> None:
    _check(body)


@given(depth=st.integers(min_value=40, max_value=5000))
@settings(max_examples=40, deadline=None)
@example(depth=60)  # 64 levels in all: the deepest accepted
@example(depth=61)
def test_nesting_past_the_limit_is_refused_however_deep(depth: int) -> None:
    schema = '{"a": ' * depth + "{}" + "}" * depth  # depth + 1 levels
    raw = (
        '{"provider": "openai", "model": "gpt-4o-mini", "response_format": '
        '{"type": "json_schema", "json_schema": {"name": "s", "schema": ' + schema + "}}}"
    ).encode()
    assert len(raw) < MAX_INIT_BODY_BYTES
    accepted = _check(raw) is not None
    assert accepted == (3 + depth + 1 <= 64)
