"""Versioned prompts on `promptforge serve`: Phoenix's own client against the registry, and a
job over a version whose every provider request carries exactly Phoenix's rendering."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from phoenix.client import Client
from phoenix.client.types import PromptVersion

from tests.e2e.jobs import Finished, download, jsonl, wait_final
from tests.e2e.processes import (
    Process,
    anthropic_and_gemini_at,
    create_key,
    promptforge,
    server,
    simulator,
)

pytestmark = pytest.mark.e2e

SEED = Path(__file__).parents[1] / "fixtures" / "seeds" / "004_phoenix_create_prompt.txt"
"""Seed 004 as given: Phoenix's POST /v1/prompts documentation (request, then response)."""
SYSTEM = "You are {{ persona }}. Never escape HTML: reply in plain text."
USER = "Customer {{customer}} wrote: {{ message }}\nReply for ticket {{ticket}}."


def seed_body() -> dict[str, Any]:
    """The seed's request body with its documentation placeholders given real values
    (``<string>`` and 123 stand for any value of that type; the discriminators take the
    constants the seed lists: ``chat``, ``openai``, ``tools``, ``function``, ``json_schema``)."""
    text = SEED.read_text()
    body: dict[str, Any] = json.JSONDecoder().raw_decode(text[text.index("{") :])[0]
    version = body["version"]
    body["prompt"].update(name="seed-prompt", description="From seed 004", source_prompt_id="p0")
    version.update(model_name="gpt-4o-mini", description="v1", template_type="CHAT")
    version["template"] = {"type": "chat", "messages": [{"role": "user", "content": "{{q}}"}]}
    params = version["invocation_parameters"]
    params["type"] = "openai"
    params["openai"].update(temperature=0.5, top_p=0.9, frequency_penalty=0.1, presence_penalty=0)
    version["tools"]["type"] = "tools"
    version["tools"]["tools"][0]["type"] = "function"
    version["tools"]["tools"][0]["function"].update(
        name="lookup", description="Look a word up", parameters={"type": "object"}
    )
    version["tools"]["tool_choice"] = {"type": "zero_or_more"}
    version["response_format"]["type"] = "json_schema"
    version["response_format"]["json_schema"].update(
        name="answer", description="An answer", schema={"type": "object"}
    )
    return body


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, Process, str, str]]:
    """The simulator, a server reaching it for all three providers, and two tenants' keys."""
    tmp = tmp_path_factory.mktemp("prompts")
    data = tmp / "data"
    key = create_key(data, "tenant-prompts")
    other = create_key(data, "tenant-other")
    with simulator(tmp, "--rpm", "6000", "--latency", "0.02") as sim:
        proc = server(data, sim.url, **anthropic_and_gemini_at(sim.url))
        proc.start("/healthz")
        try:
            yield sim, proc, key, other
        finally:
            proc.stop()


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_the_seed_body_creates_a_version(stack: tuple[Process, Process, str, str]) -> None:
    _, proc, key, _ = stack
    with httpx.Client(timeout=30) as client:
        created = client.post(f"{proc.url}/v1/prompts", headers=_auth(key), json=seed_body())
        assert created.status_code == 200, created.text
        version = created.json()["data"]
        assert version["id"].startswith("pv_")
        assert version["tools"]["tools"][0]["function"]["name"] == "lookup"
        again = client.get(f"{proc.url}/v1/prompt_versions/{version['id']}", headers=_auth(key))
        assert again.json()["data"] == version
        # Literally as documented, its placeholders break Phoenix's rules: a 422 naming the field.
        text = SEED.read_text()
        raw = text[text.index("{") : text.index("}\n}\n'") + 3]
        refused = client.post(f"{proc.url}/v1/prompts", headers=_auth(key), content=raw)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["details"]["field"] == "prompt.name"


def _version(system: str, user: str) -> PromptVersion:
    return PromptVersion.from_openai(
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": 0.3,
            "max_tokens": 77,
        },
        template_format="MUSTACHE",
    )


def _rows(count: int) -> list[dict[str, Any]]:
    return [
        {
            "prompt_id": f"t{i:02d}",
            "variables": {
                "persona": "a <b>bold</b> & kind agent",
                "customer": f"C&{i}",
                "message": f'Order #{i} <b>late</b> & "broken" {{{{x}}}} \\o/',
                "ticket": f"T-{i:02d}",
                "unused": "ignored",
            },
        }
        for i in range(count)
    ]


def _run(client: httpx.Client, url: str, key: str, body: bytes, **init: Any) -> Finished:
    created = client.post(f"{url}/v1/jobs/init", headers=_auth(key), json=init)
    assert created.status_code == 202, created.text
    job = created.json()
    headers = {"Content-Type": "application/octet-stream"}
    put = client.put(job["upload_url"], content=body, headers=headers)
    assert put.status_code == 200, put.text
    status = wait_final(client, url, key, job["job_id"])
    return Finished(status, download(client, url, key, job["job_id"]))


def test_phoenix_client_and_a_job_over_a_version(stack: tuple[Process, Process, str, str]) -> None:
    sim, proc, key, other = stack
    phoenix = Client(base_url=proc.url, api_key=key)
    v1 = phoenix.prompts.create(version=_version(SYSTEM, USER), name="support-reply")
    v2 = phoenix.prompts.create(version=_version(SYSTEM, USER + " Be brief."), name="support-reply")
    assert v1.id and v2.id and v1.id != v2.id
    assert phoenix.prompts.get(prompt_identifier="support-reply").id == v2.id
    assert phoenix.prompts.get(prompt_version_id=v1.id).id == v1.id
    phoenix.prompts.tags.create(prompt_version_id=v1.id, name="production")
    assert phoenix.prompts.get(prompt_identifier="support-reply", tag="production").id == v1.id
    assert [t["name"] for t in phoenix.prompts.tags.list(prompt_version_id=v1.id)] == ["production"]
    stranger = Client(base_url=proc.url, api_key=other)
    for lookup in ({"prompt_identifier": "support-reply"}, {"prompt_version_id": v1.id}):
        with pytest.raises(ValueError, match="Prompt not found"):
            stranger.prompts.get(**lookup)

    rows = _rows(20)
    missing = {"prompt_id": "t20", "variables": {"persona": "p", "customer": "c", "ticket": "x"}}
    with httpx.Client(timeout=30) as client:
        client.post(f"{sim.url}/_sim/reset")
        finished = _run(
            client, proc.url, key, jsonl([*rows, missing]), prompt="support-reply", tag="production"
        )
        sent = [r["body"] for r in client.get(f"{sim.url}/_sim/requests").json()]
    assert finished.status["status"] == "COMPLETED", finished.status
    assert finished.status["completed_count"] == 20
    assert sorted(r["prompt_id"] for r in finished.results) == [f"t{i:02d}" for i in range(20)]
    [error] = finished.errors
    assert error["prompt_id"] == "t20"
    assert error["error"]["code"] == "missing_variable"
    assert "'message'" in error["error"]["message"]
    # A retried call (a 429) is logged again: every request is one of the 20 rows, and the row
    # missing a variable (ticket x) was never sent.
    assert {re.findall(r"ticket (T-\d\d|x)", b["messages"][1]["content"])[0] for b in sent} == {
        f"T-{i:02d}" for i in range(20)
    }
    expected = {
        row["variables"]["ticket"]: v1.format(variables=row["variables"])["messages"]
        for row in rows
    }
    for body in sent:
        assert body["model"] == "gpt-4o-mini"
        assert body["temperature"] == 0.3
        assert body["max_tokens"] == 77
        ticket = re.findall(r"ticket (T-\d\d)", body["messages"][1]["content"])[0]
        assert body["messages"] == [dict(m) for m in expected[ticket]]  # character for character
    assert "&amp;" not in json.dumps(sent) and "<b>bold</b> & kind" in json.dumps(sent)


def _post_version(client: httpx.Client, url: str, key: str, name: str, **version: Any) -> str:
    body = {
        "prompt": {"name": name},
        "version": {
            "template_type": "CHAT",
            "template": {
                "type": "chat",
                "messages": [
                    {"role": "system", "content": version.pop("system")},
                    {"role": "user", "content": version.pop("user")},
                ],
            },
            **version,
        },
    }
    created = client.post(f"{url}/v1/prompts", headers=_auth(key), json=body)
    assert created.status_code == 200, created.text
    return str(created.json()["data"]["id"])


SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


@pytest.mark.parametrize(
    ("model_provider", "model", "template_format", "params"),
    [
        (
            "ANTHROPIC",
            "claude-haiku-4-5-20251001",
            "MUSTACHE",
            {"type": "anthropic", "anthropic": {"max_tokens": 50, "temperature": 0.2}},
        ),
        (
            "GOOGLE",
            "gemini-2.5-flash",
            "F_STRING",
            {"type": "google", "google": {"max_output_tokens": 50, "temperature": 0.2}},
        ),
    ],
)
def test_anthropic_and_gemini_versions_render_as_phoenix_does(
    stack: tuple[Process, Process, str, str],
    model_provider: str,
    model: str,
    template_format: str,
    params: dict[str, Any],
) -> None:
    sim, proc, key, _ = stack
    mustache = template_format == "MUSTACHE"
    system = "You are {{ persona }}." if mustache else "You are {persona} {{literal}}."
    user = "Ticket {{ticket}}: {{message}}" if mustache else "Ticket {ticket}: {message}"
    rows = _rows(10)
    with httpx.Client(timeout=30) as client:
        version_id = _post_version(
            client,
            proc.url,
            key,
            f"render-{model_provider.lower()}",
            model_provider=model_provider,
            model_name=model,
            template_format=template_format,
            invocation_parameters=params,
            system=system,
            user=user,
            response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}},
        )
        client.post(f"{sim.url}/_sim/reset")
        finished = _run(client, proc.url, key, jsonl(rows), prompt_version_id=version_id)
        sent = [r["body"] for r in client.get(f"{sim.url}/_sim/requests").json()]
    assert finished.status["status"] == "COMPLETED", finished.status
    assert len(finished.results) == 10 and len(sent) >= 10  # a 429 is logged again
    version = Client(base_url=proc.url, api_key=key).prompts.get(prompt_version_id=version_id)
    expected = {}
    for row in rows:
        messages = version.format(variables=row["variables"], sdk="openai")["messages"]
        expected[messages[1]["content"]] = messages[0]["content"]
    for body in sent:
        if model_provider == "ANTHROPIC":
            system_text, user_text = body["system"], body["messages"][0]["content"]
            assert (body["temperature"], body["max_tokens"]) == (0.2, 50)
            assert body["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
        else:
            system_text = body["systemInstruction"]["parts"][0]["text"]
            user_text = body["contents"][0]["parts"][0]["text"]
            config = body["generationConfig"]
            assert (config["temperature"], config["maxOutputTokens"]) == (0.2, 50)
            assert config["responseJsonSchema"] == SCHEMA
        assert expected[user_text] == system_text  # both texts exactly Phoenix's rendering
    assert len(expected) == 10


def test_a_tool_call_comes_back_in_the_result_line(
    stack: tuple[Process, Process, str, str],
) -> None:
    sim, proc, key, _ = stack
    tools = {
        "type": "tools",
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": SCHEMA}}],
        "tool_choice": {"type": "specific_function", "function_name": "lookup"},
    }
    with httpx.Client(timeout=30) as client:
        version_id = _post_version(
            client,
            proc.url,
            key,
            "with-tool",
            model_provider="OPENAI",
            model_name="gpt-4o-mini",
            template_format="MUSTACHE",
            invocation_parameters={"type": "openai", "openai": {}},
            system="Use the tool.",
            user="Look up {{word}}",
            tools=tools,
        )
        client.post(f"{sim.url}/_sim/reset")
        rows = [{"prompt_id": "w1", "variables": {"word": "ocean"}}]
        finished = _run(client, proc.url, key, jsonl(rows), prompt_version_id=version_id)
        sent = client.get(f"{sim.url}/_sim/requests").json()[-1]["body"]
    assert sent["tools"] == [{"type": "function", "function": tools["tools"][0]["function"]}]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    [result] = finished.results
    assert result["tool_calls"] == [{"name": "lookup", "arguments": {"query": "Look up ocean"}}]
    assert result["finish_reason"] == "tool_calls"


def test_another_tenants_prompt_is_not_found(stack: tuple[Process, Process, str, str]) -> None:
    _, proc, key, other = stack
    with httpx.Client(timeout=30) as client:
        version_id = _post_version(
            client,
            proc.url,
            key,
            "private",
            model_provider="OPENAI",
            model_name="gpt-4o-mini",
            template_format="NONE",
            invocation_parameters={"type": "openai", "openai": {}},
            system="s",
            user="u",
        )
        client.post(
            f"{proc.url}/v1/prompt_versions/{version_id}/tags",
            headers=_auth(key),
            json={"name": "prod"},
        )
        for path in (
            "/v1/prompts/private/latest",
            "/v1/prompts/private/versions",
            "/v1/prompts/private/tags/prod",
            f"/v1/prompt_versions/{version_id}",
            f"/v1/prompt_versions/{version_id}/tags",
        ):
            answer = client.get(f"{proc.url}{path}", headers=_auth(other))
            assert answer.status_code == 404, (path, answer.text)
        listed = client.get(f"{proc.url}/v1/prompts", headers=_auth(other)).json()
        assert listed == {"data": [], "next_cursor": None}
        for init in ({"prompt_version_id": version_id}, {"prompt": "private", "tag": "prod"}):
            refused = client.post(f"{proc.url}/v1/jobs/init", headers=_auth(other), json=init)
            assert refused.status_code == 404, refused.text
            assert (
                client.post(f"{proc.url}/v1/jobs/init", headers=_auth(key), json=init).status_code
                == 202
            )


def test_the_cli_creates_tags_shows_and_submits_over_a_prompt(
    stack: tuple[Process, Process, str, str], tmp_path: Path
) -> None:
    _, proc, key, _ = stack
    env = dict(os.environ, PROMPTFORGE_URL=proc.url, PROMPTFORGE_API_KEY=key)

    def cli(*args: str) -> str:
        done = subprocess.run(
            promptforge(*args), env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    body = seed_body()
    body["prompt"]["name"] = "cli-prompt"
    version = body["version"]
    version["template"]["messages"] = [{"role": "user", "content": "Say {{word}}"}]
    del version["tools"], version["response_format"]
    file = tmp_path / "version.json"
    file.write_text(json.dumps(body))
    version_id = cli("prompts", "create", str(file)).strip()
    assert version_id.startswith("pv_")
    assert "production" in cli("prompts", "tag", version_id, "production")
    assert "cli-prompt" in cli("prompts", "list")
    assert version_id in cli("prompts", "list", "cli-prompt")
    shown = json.loads(cli("prompts", "show", "cli-prompt@production"))
    assert shown["id"] == version_id
    assert json.loads(cli("prompts", "show", f"cli-prompt:{version_id}"))["id"] == version_id
    rows = tmp_path / "rows.jsonl"
    rows.write_bytes(
        jsonl([{"prompt_id": f"r{i}", "variables": {"word": f"w{i}"}} for i in range(5)])
    )
    out = tmp_path / "out"
    cli("submit", str(rows), "--prompt", "cli-prompt@production", "--out", str(out))
    [job_dir] = list(out.iterdir())
    lines = (job_dir / "results_part_001.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["prompt_id"] for line in lines) == [f"r{i}" for i in range(5)]
