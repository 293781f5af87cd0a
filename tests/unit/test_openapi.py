"""The committed OpenAPI document is current and describes every route the server has."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pytest
from starlette.routing import Route

from promptforge.api.app import openapi_spec
from promptforge.blobstore.http import _other_method  # answers 405 to every other method
from promptforge.local.runtime import EmbeddedRuntime
from promptforge.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_openapi", ROOT / "scripts/make_openapi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_document_is_what_the_script_writes() -> None:
    assert openapi_spec() == _script().render(), "run `make openapi` and commit the result"


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


def test_every_error_code_has_a_message_schema() -> None:
    spec = json.loads(openapi_spec())
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (path, method, status)
                    assert "Codes: " in response["description"], (path, method, status)
