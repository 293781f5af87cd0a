"""The prompt registry's store contract, on SQLite and on the Firestore emulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from promptforge.prompts.store import (
    PromptRecord,
    TagRecord,
    VersionRecord,
    new_version_id,
    prompt_id_for,
)
from tests.contract.conftest import ListingJobStore

pytestmark = pytest.mark.anyio
T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
DATA = {
    "model_provider": "OPENAI",
    "model_name": "gpt-4o-mini",
    "template": {"type": "chat", "messages": [{"role": "user", "content": "{{q}}"}]},
    "template_type": "CHAT",
    "template_format": "MUSTACHE",
    "invocation_parameters": {"type": "openai", "openai": {"temperature": 0.5}},
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "a", "schema": {"type": "object", "enum": [[1, 2], [3]]}},
    },
}


def _prompt(tenant: str, name: str, description: str | None = None) -> PromptRecord:
    return PromptRecord(prompt_id_for(tenant, name), tenant, name, description, {"k": 1}, None, T0)


def _version(prompt: PromptRecord, minutes: int) -> VersionRecord:
    at = T0 + timedelta(minutes=minutes)
    return VersionRecord(new_version_id(at), prompt.tenant_id, prompt.prompt_id, DATA, at)


async def test_versions_accumulate_under_one_prompt_newest_first(store: ListingJobStore) -> None:
    first = _prompt("t1", "greet", "first description")
    versions = [_version(first, minute) for minute in range(3)]
    await store.add_prompt_version(first, versions[0])
    later = _prompt("t1", "greet", "ignored: the prompt exists")
    for version in versions[1:]:
        await store.add_prompt_version(later, version)
    stored = await store.get_prompt("t1", first.prompt_id)
    assert stored == first
    listed = await store.list_prompt_versions("t1", first.prompt_id, 10, None)
    assert [v.version_id for v in listed] == [v.version_id for v in reversed(versions)]
    assert listed[0].data == DATA  # arrays of arrays included
    page = await store.list_prompt_versions("t1", first.prompt_id, 2, versions[1].version_id)
    assert [v.version_id for v in page] == [versions[1].version_id, versions[0].version_id]
    assert await store.get_prompt_version("t1", versions[2].version_id) == versions[2]


async def test_another_tenant_sees_nothing(store: ListingJobStore) -> None:
    prompt = _prompt("t1", "secret")
    version = _version(prompt, 0)
    await store.add_prompt_version(prompt, version)
    await store.set_prompt_tag(TagRecord("t1", prompt.prompt_id, "prod", version.version_id, None))
    assert await store.get_prompt("t2", prompt.prompt_id) is None
    assert await store.get_prompt_version("t2", version.version_id) is None
    assert await store.list_prompts("t2", 10, None) == []
    assert await store.list_prompt_versions("t2", prompt.prompt_id, 10, None) == []
    assert await store.get_prompt_tag("t2", prompt.prompt_id, "prod") is None
    assert await store.list_version_tags("t2", version.version_id) == []
    assert prompt_id_for("t2", "secret") != prompt.prompt_id


async def test_prompts_list_by_name_in_pages(store: ListingJobStore) -> None:
    for name in ("c", "a", "b"):
        prompt = _prompt("t1", name)
        await store.add_prompt_version(prompt, _version(prompt, 0))
    await store.add_prompt_version(_prompt("t9", "a0"), _version(_prompt("t9", "a0"), 0))
    assert [p.name for p in await store.list_prompts("t1", 10, None)] == ["a", "b", "c"]
    assert [p.name for p in await store.list_prompts("t1", 1, "b")] == ["b"]


async def test_a_tag_names_one_version_and_moves(store: ListingJobStore) -> None:
    prompt = _prompt("t1", "tagged")
    v1, v2 = _version(prompt, 0), _version(prompt, 1)
    await store.add_prompt_version(prompt, v1)
    await store.add_prompt_version(prompt, v2)
    await store.set_prompt_tag(TagRecord("t1", prompt.prompt_id, "prod", v1.version_id, "live"))
    await store.set_prompt_tag(TagRecord("t1", prompt.prompt_id, "beta", v1.version_id, None))
    assert [t.name for t in await store.list_version_tags("t1", v1.version_id)] == ["beta", "prod"]
    await store.set_prompt_tag(TagRecord("t1", prompt.prompt_id, "prod", v2.version_id, None))
    tag = await store.get_prompt_tag("t1", prompt.prompt_id, "prod")
    assert tag is not None and tag.version_id == v2.version_id
    assert [t.name for t in await store.list_version_tags("t1", v1.version_id)] == ["beta"]


@pytest.mark.parametrize("minutes", [0])
async def test_a_version_id_is_written_once(store: ListingJobStore, minutes: int) -> None:
    prompt = _prompt("t1", "once")
    version = _version(prompt, minutes)
    await store.add_prompt_version(prompt, version)
    with pytest.raises(Exception):  # noqa: B017 - each backend's own "exists" error
        await store.add_prompt_version(prompt, version)
    assert len(await store.list_prompt_versions("t1", prompt.prompt_id, 10, None)) == 1
