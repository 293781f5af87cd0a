"""The OpenAPI document is generated from the operations and their models, and describes
every route the server has."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from starlette.routing import Route

from promptforge.api.app import openapi_spec
from promptforge.api.routes import API_OPERATIONS
from promptforge.api.schemas import ErrorBody
from promptforge.blobstore.http import _other_method  # answers 405 to every other method
from promptforge.core.requests import InitRequest
from promptforge.embedded.runtime import EmbeddedRuntime
from promptforge.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.anyio
async def test_every_route_and_method_is_documented(tmp_path: Path) -> None:
    runtime = EmbeddedRuntime(Settings(data_dir=tmp_path))
    try:
        served = {
            (re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", route.path), method.lower())
            for route in runtime.app.routes
            if isinstance(route, Route) and route.endpoint is not _other_method
            for method in route.methods or ()
            if method not in {"HEAD"}
        }
    finally:
        await runtime.http.aclose()
    paths = json.loads(openapi_spec())["paths"]
    documented = {(path, m) for path, item in paths.items() for m in item if m != "parameters"}
    assert served == documented


def test_schemas_are_the_models_the_handlers_use() -> None:
    """The init body's schema is InitRequest's own: a field added there is documented."""
    spec = json.loads(openapi_spec())
    init = spec["paths"]["/v1/jobs/init"]["post"]
    assert init["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/InitRequest"
    }
    documented = spec["components"]["schemas"]["InitRequest"]
    own = InitRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    own.pop("$defs")
    assert documented == own
    # The drift the hand-written document had: the server accepts "rpm": null.
    assert {"type": "null"} in documented["properties"]["rpm"]["anyOf"]
    assert documented["properties"]["metadata"]["anyOf"][0]["maxProperties"] == 16


def test_no_hand_written_document_is_left() -> None:
    assert not (ROOT / "scripts/make_openapi.py").exists()
    assert not (ROOT / "shared/promptforge/data/openapi.json").exists()


def test_every_operation_is_in_the_document_once() -> None:
    spec = json.loads(openapi_spec())
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert {op.operation_id for op in API_OPERATIONS} <= set(ids)


def test_every_error_code_has_a_message_schema() -> None:
    """PromptForge's ErrorBody, or for a drop-in format's operation that format's error body."""
    spec = json.loads(openapi_spec())
    shapes = {op.label: (op.error_body or ErrorBody).__name__ for op in API_OPERATIONS}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            body = shapes.get(f"{method.upper()} {path}", "ErrorBody")
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": f"#/components/schemas/{body}"}, (path, method)
                    assert "Codes: " in response["description"], (path, method, status)


def test_every_limited_operation_has_a_limit() -> None:
    from promptforge.api.throttle import DEFAULT_LIMITS

    for op in API_OPERATIONS:
        assert (op.label in DEFAULT_LIMITS) == (op.limited and op.authenticated), op.label
