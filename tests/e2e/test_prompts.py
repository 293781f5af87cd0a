"""Versioned prompts on `promptforge serve`: Phoenix's own client against the registry, and a
job over a version whose every provider request carries exactly Phoenix's rendering."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from phoenix.client import Client
from phoenix.client.types import PromptVersion

from tests.e2e.jobs import Finished, download, jsonl, wait_final
from tests.e2e.processes import Process, create_key, server, simulator

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
        extra = {
            f"PROMPTFORGE_{name}_{part}": value
            for name in ("ANTHROPIC", "GEMINI")
            for part, value in (("API_KEY", "sk-test-provider-key-0123456789"), ("BASE_URL", sim.url))
        }
        proc = server(data, sim.url, **extra)
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
                "message": f"Order #{i} <b>late</b> & \"broken\" {{{{x}}}} \\o/",
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
            stranger.prompts.get(**lookup)  # type: ignore[arg-type]

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
    assert len(sent) == 20  # the row missing a variable was never sent
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
