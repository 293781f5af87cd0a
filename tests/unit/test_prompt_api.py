"""The prompt registry's routes in process (embedded runtime, SQLite): each bad input is a 422
naming the field, pages and tags behave as Phoenix's, and jobs and validate take a version."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptforge.clock import SystemClock
from promptforge.core.auth import create_api_key
from promptforge.embedded.runtime import EmbeddedRuntime
from promptforge.settings import Settings

pytestmark = pytest.mark.anyio

Api = tuple[httpx.AsyncClient, dict[str, str]]
SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}}


def body(name: str = "greet", **version: Any) -> dict[str, Any]:
    """A valid create body (OpenAI, CHAT, MUSTACHE) with ``version`` fields replaced."""
    base = {
        "model_provider": "OPENAI",
        "model_name": "gpt-4o-mini",
        "template": {
            "type": "chat",
            "messages": [
                {"role": "system", "content": "Be {{tone}}."},
                {"role": "user", "content": "Hello {{ name }}"},
            ],
        },
        "template_type": "CHAT",
        "template_format": "MUSTACHE",
        "invocation_parameters": {"type": "openai", "openai": {"temperature": 0.5}},
    }
    return {"prompt": {"name": name}, "version": {**base, **version}}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with EmbeddedRuntime(Settings(data_dir=tmp_path)) as runtime:
        key, _ = await create_api_key(runtime.store, SystemClock(), "tenant-a")
        transport = httpx.ASGITransport(app=runtime.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pf") as client:
            yield client, {"Authorization": f"Bearer {key}"}


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return change


_DELETE = object()
TOOL = {"type": "function", "function": {"description": "no name"}}
BAD_INPUTS = [
    ("version.template_format", "JINJA", "version.template_format"),
    ("version.template_type", "TEXT", "version.template_type"),
    ("version.template_type", "STR", "version.template.type"),  # a chat template is CHAT
    ("version.template.type", "string", "version.template.template"),  # a string needs its text
    (
        "version.invocation_parameters.openai.temperature",
        2.5,
        "version.invocation_parameters.openai.temperature",
    ),
    ("version.model_provider", "MISTRAL", "version.model_provider"),
    ("version.invocation_parameters.type", "anthropic", "version.invocation_parameters.type"),
    ("version.tools", {"type": "tools", "tools": [TOOL]}, "version.tools.tools.0.function.name"),
    (
        "version.response_format",
        {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "obj"}}},
        "version.response_format.json_schema.schema",
    ),
    (
        "version.response_format",
        {"type": "json_schema", "json_schema": {"name": "a", "schema": {"properties": []}}},
        "version.response_format.json_schema.schema",
    ),
    ("prompt.name", "Has Spaces", "prompt.name"),
    ("prompt.name", "-leading-dash", "prompt.name"),
    ("version.template.messages.0.role", "narrator", "version.template.messages.0.role"),
    ("version.model_name", _DELETE, "version.model_name"),
]


@pytest.mark.parametrize(("path", "value", "field"), BAD_INPUTS)
async def test_each_bad_input_is_a_422_naming_the_field(
    api: Api, path: str, value: Any, field: str
) -> None:
    client, auth = api
    data = copy.deepcopy(body())
    _set(path, value)(data)
    got = await client.post("/v1/prompts", headers=auth, json=data)
    assert got.status_code == 422, got.text
    error = got.json()["error"]
    assert (error["code"], error["details"]["field"]) == ("invalid_prompt", field)
    assert field in error["message"]


async def test_anthropic_ranges_and_its_required_max_tokens(api: Api) -> None:
    client, auth = api
    for params, field in (
        ({"temperature": 0.5}, "version.invocation_parameters.anthropic.max_tokens"),
        (
            {"max_tokens": 9, "temperature": 1.5},
            "version.invocation_parameters.anthropic.temperature",
        ),
    ):
        data = body(
            model_provider="ANTHROPIC",
            model_name="claude-haiku-4-5-20251001",
            invocation_parameters={"type": "anthropic", "anthropic": params},
        )
        got = await client.post("/v1/prompts", headers=auth, json=data)
        assert got.status_code == 422, got.text
        assert got.json()["error"]["details"]["field"] == field


async def test_malformed_json_is_a_400(api: Api) -> None:
    client, auth = api
    got = await client.post("/v1/prompts", headers=auth, content=b"{nope")
    assert got.status_code == 400 and got.json()["error"]["code"] == "malformed_json"


async def test_versions_pages_latest_and_a_tag_that_moves(api: Api) -> None:
    client, auth = api
    ids = []
    for tone in ("calm", "warm", "brisk"):
        created = await client.post("/v1/prompts", headers=auth, json=body(description=tone))
        assert created.status_code == 200, created.text
        ids.append(created.json()["data"]["id"])
    await client.post("/v1/prompts", headers=auth, json=body("another"))
    page = (await client.get("/v1/prompts/greet/versions?limit=2", headers=auth)).json()
    assert [v["id"] for v in page["data"]] == [ids[2], ids[1]]
    rest = await client.get(
        f"/v1/prompts/greet/versions?cursor={page['next_cursor']}", headers=auth
    )
    assert [v["id"] for v in rest.json()["data"]] == [ids[0]] and rest.json()["next_cursor"] is None
    latest = (await client.get("/v1/prompts/greet/latest", headers=auth)).json()["data"]
    assert latest["id"] == ids[2] and latest["description"] == "brisk"
    prompts = (await client.get("/v1/prompts?limit=1", headers=auth)).json()
    assert [p["name"] for p in prompts["data"]] == ["another"]
    more = (await client.get(f"/v1/prompts?cursor={prompts['next_cursor']}", headers=auth)).json()
    assert [p["name"] for p in more["data"]] == ["greet"] and more["next_cursor"] is None
    by_id = await client.get(f"/v1/prompts/{more['data'][0]['id']}/latest", headers=auth)
    assert by_id.json()["data"]["id"] == ids[2]
    for version_id in (ids[0], ids[1]):
        tagged = await client.post(
            f"/v1/prompt_versions/{version_id}/tags", headers=auth, json={"name": "production"}
        )
        assert tagged.status_code == 204, tagged.text
    got = await client.get("/v1/prompts/greet/tags/production", headers=auth)
    assert got.json()["data"]["id"] == ids[1]  # moved
    assert (await client.get(f"/v1/prompt_versions/{ids[0]}/tags", headers=auth)).json()[
        "data"
    ] == []
    bad_tag = await client.post(
        f"/v1/prompt_versions/{ids[0]}/tags", headers=auth, json={"name": "Not OK"}
    )
    assert bad_tag.status_code == 422 and bad_tag.json()["error"]["details"]["field"] == "name"
    missing = await client.get("/v1/prompts/greet/tags/staging", headers=auth)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "prompt_tag_not_found"
    # Versions are immutable: no route changes one.
    for method in ("PUT", "PATCH", "DELETE"):
        assert (
            await client.request(method, f"/v1/prompt_versions/{ids[0]}", headers=auth)
        ).status_code == 405


@pytest.mark.parametrize("provider", ["AZURE_OPENAI", "AWS"])
async def test_a_version_no_job_can_run_is_stored_but_init_says_why(
    api: Api, provider: str
) -> None:
    client, auth = api
    kind = provider.lower()
    data = body(model_provider=provider, invocation_parameters={"type": kind, kind: {}})
    created = await client.post("/v1/prompts", headers=auth, json=data)
    assert created.status_code == 200, created.text
    init = await client.post(
        "/v1/jobs/init", headers=auth, json={"prompt_version_id": created.json()["data"]["id"]}
    )
    assert init.status_code == 422, init.text
    error = init.json()["error"]
    assert error["code"] == "unsupported_provider" and provider in error["message"]


@pytest.mark.parametrize("provider", ["DEEPSEEK", "XAI", "OLLAMA"])
async def test_compatible_providers_run_on_the_openai_endpoint(api: Api, provider: str) -> None:
    """Their models join the catalogue as openai entries (the operator's models file; a
    catalogue model stands in for one here); an unknown model is a 422 listing the known."""
    client, auth = api
    kind = provider.lower()
    params = {"type": kind, kind: {"temperature": 0.2, "max_tokens": 10}}
    for model, status in (("gpt-4o-mini", 202), ("deepseek-chat-unlisted", 422)):
        data = body(model_provider=provider, model_name=model, invocation_parameters=params)
        created = await client.post("/v1/prompts", headers=auth, json=data)
        version_id = created.json()["data"]["id"]
        init = await client.post(
            "/v1/jobs/init", headers=auth, json={"prompt_version_id": version_id}
        )
        assert init.status_code == status, init.text
        if status == 202:
            job = await client.get(f"/v1/jobs/{init.json()['job_id']}/status", headers=auth)
            assert (job.json()["provider"], job.json()["model"]) == ("openai", model)
        else:
            assert init.json()["error"]["code"] == "unsupported_model"


async def test_init_takes_a_version_alone(api: Api) -> None:
    client, auth = api
    created = await client.post("/v1/prompts", headers=auth, json=body())
    version_id = created.json()["data"]["id"]
    for init, code in (
        ({"prompt_version_id": version_id, "temperature": 0.1}, "invalid_field"),
        ({"prompt_version_id": version_id, "prompt": "greet"}, "invalid_field"),
        ({"tag": "production"}, "missing_field"),
        ({"prompt": "greet", "tag": "Bad Tag!"}, None),
    ):
        got = await client.post("/v1/jobs/init", headers=auth, json=init)
        if code is None:
            assert got.status_code == 404, got.text
        else:
            assert got.status_code == 400 and got.json()["error"]["code"] == code, got.text
    ok = await client.post("/v1/jobs/init", headers=auth, json={"prompt": "greet"})
    assert ok.status_code == 202, ok.text
    status = await client.get(f"/v1/jobs/{ok.json()['job_id']}/status", headers=auth)
    assert (status.json()["provider"], status.json()["model"]) == ("openai", "gpt-4o-mini")


async def test_validate_reports_rows_missing_variables(api: Api) -> None:
    client, auth = api
    created = await client.post("/v1/prompts", headers=auth, json=body())
    version_id = created.json()["data"]["id"]
    rows = (
        b'{"prompt_id": "a", "variables": {"tone": "calm", "name": "Ann", "extra": "x"}}\n'
        b'{"prompt_id": "b", "variables": {"tone": "calm"}}\n'
        b'{"prompt_id": "c", "prompt": "not a row"}\n'
        b'{"prompt_id": "d", "variables": {"tone": 1, "name": "x"}}\n'
    )
    got = await client.post(
        "/v1/jobs/validate", params={"prompt_version_id": version_id}, headers=auth, content=rows
    )
    assert got.status_code == 200, got.text
    report = got.json()
    assert (report["valid"], report["prompt_count"]) == (False, 1)
    assert [(e["line"], e["code"]) for e in report["errors"]] == [
        (2, "missing_variable"),
        (3, "missing_variables"),
        (4, "invalid_variables"),
    ]
    assert "'name'" in report["errors"][0]["message"]
    unknown = await client.post(
        "/v1/jobs/validate", params={"prompt_version_id": "pv_nope"}, headers=auth, content=rows
    )
    assert unknown.status_code == 404
