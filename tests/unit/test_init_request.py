"""Init bodies: the seed's fields, generation options, and a 400 that names the problem."""

from __future__ import annotations

import json

import pytest

from promptforge.core.requests import parse_init_request
from promptforge.errors import BadRequest


def _parse(body: object) -> object:
    return parse_init_request(json.dumps(body).encode())


def test_seed_body_parses_with_defaults() -> None:
    request = parse_init_request(b'{"provider": "openai", "model": "gpt-4o-mini"}')
    assert request.max_retries == 3
    assert request.rpm is None and request.tpm is None
    assert request.params().to_dict() == {}


def test_generation_options_become_params() -> None:
    request = _parse(
        {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "temperature": 0,
            "max_tokens": 50,
            "stop": ["END"],
            "response_format": {"type": "json_object"},
        }
    )
    assert request.params().to_dict() == {  # type: ignore[attr-defined]
        "temperature": 0.0,
        "max_tokens": 50,
        "response_format": {"type": "json_object"},
        "stop": ["END"],
    }


@pytest.mark.parametrize(
    ("body", "code", "needle"),
    [
        (b"{not json", "malformed_json", "not valid JSON"),
        (b"[1]", "malformed_json", "JSON object"),
        (b'{"model": "m"}', "missing_field", "provider"),
        (b"{}", "missing_field", "provider, model"),
        (b'{"provider": "openai", "model": "m", "colour": 1}', "unknown_field", "colour"),
        (
            b'{"provider": "openai", "model": "m", "max_retries": "3"}',
            "invalid_field",
            "max_retries",
        ),
        (
            b'{"provider": "openai", "model": "m", "max_retries": -1}',
            "invalid_field",
            "max_retries",
        ),
        (b'{"provider": 1, "model": "m"}', "invalid_field", "provider"),
        (
            b'{"provider": "openai", "model": "m", "response_format": {"type": "json_schema", '
            b'"json_schema": {"schema": {}}}}',
            "missing_field",
            "response_format.json_schema.name",
        ),
    ],
)
def test_bad_bodies_are_400_with_a_code_and_the_field(body: bytes, code: str, needle: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_init_request(body)
    assert caught.value.code == code
    assert needle in caught.value.message
