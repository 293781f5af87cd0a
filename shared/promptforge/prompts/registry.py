"""The prompt registry's use cases, HTTP-free: what the ``/v1/prompts`` routes do.

A prompt is found by its name or its id (``prm_…``); one of another tenant is a 404 like
one that does not exist. Creating a version of an existing name keeps the prompt's
description and metadata (Phoenix ignores them then too).
"""

from __future__ import annotations

from typing import Any

from promptforge.core.deps import Deps
from promptforge.errors import NotFound
from promptforge.prompts.schema import CreatePromptBody, TagBody, parse_body
from promptforge.prompts.store import (
    PromptRecord,
    TagRecord,
    VersionRecord,
    new_version_id,
    prompt_id_for,
)

_ID_PREFIX = "prm_"


async def create_version(deps: Deps, tenant_id: str, body: bytes) -> VersionRecord:
    """``POST /v1/prompts``: the new version (the prompt is created on first use of its name)."""
    parsed = parse_body(body, CreatePromptBody)
    prompt_data, version_data = parsed["prompt"], parsed["version"]
    now = deps.clock.now()
    prompt = PromptRecord(
        prompt_id=prompt_id_for(tenant_id, prompt_data["name"]),
        tenant_id=tenant_id,
        name=prompt_data["name"],
        description=prompt_data.get("description"),
        metadata=dict(prompt_data.get("metadata") or {}),
        source_prompt_id=prompt_data.get("source_prompt_id"),
        created_at=now,
    )
    version = VersionRecord(new_version_id(now), tenant_id, prompt.prompt_id, version_data, now)
    await deps.store.add_prompt_version(prompt, version)
    return version


async def find_prompt(deps: Deps, tenant_id: str, name_or_id: str) -> PromptRecord:
    """The tenant's prompt by name or id; 404 ``prompt_not_found``."""
    prompt_id = (
        name_or_id if name_or_id.startswith(_ID_PREFIX) else prompt_id_for(tenant_id, name_or_id)
    )
    prompt = await deps.store.get_prompt(tenant_id, prompt_id)
    if prompt is None:
        raise NotFound("prompt_not_found", f"no prompt {name_or_id!r} for this API key")
    return prompt


async def list_prompts(
    deps: Deps, tenant_id: str, limit: int, cursor: str | None
) -> dict[str, Any]:
    """``GET /v1/prompts``: a page by name; ``next_cursor`` is the next page's first prompt."""
    start = (await find_prompt(deps, tenant_id, cursor)).name if cursor else None
    found = await deps.store.list_prompts(tenant_id, limit + 1, start)
    next_cursor = found[limit].prompt_id if len(found) > limit else None
    return {"data": [p.to_api() for p in found[:limit]], "next_cursor": next_cursor}


async def list_versions(
    deps: Deps, tenant_id: str, name_or_id: str, limit: int, cursor: str | None
) -> dict[str, Any]:
    """``GET /v1/prompts/{name_or_id}/versions``: newest first, a page at a time."""
    prompt = await find_prompt(deps, tenant_id, name_or_id)
    found = await deps.store.list_prompt_versions(tenant_id, prompt.prompt_id, limit + 1, cursor)
    next_cursor = found[limit].version_id if len(found) > limit else None
    return {"data": [v.to_api() for v in found[:limit]], "next_cursor": next_cursor}


async def latest_version(deps: Deps, tenant_id: str, name_or_id: str) -> VersionRecord:
    """The prompt's newest version."""
    prompt = await find_prompt(deps, tenant_id, name_or_id)
    found = await deps.store.list_prompt_versions(tenant_id, prompt.prompt_id, 1, None)
    if not found:  # a prompt is created with its first version, in one transaction
        raise NotFound("prompt_not_found", f"prompt {name_or_id!r} has no version")
    return found[0]


async def get_version(deps: Deps, tenant_id: str, version_id: str) -> VersionRecord:
    """The tenant's version; 404 ``prompt_version_not_found``."""
    version = await deps.store.get_prompt_version(tenant_id, version_id)
    if version is None:
        raise NotFound(
            "prompt_version_not_found", f"no prompt version {version_id!r} for this API key"
        )
    return version


async def tag_version(deps: Deps, tenant_id: str, version_id: str, body: bytes) -> None:
    """``POST /v1/prompt_versions/{id}/tags``: the tag names this version (moved if set)."""
    version = await get_version(deps, tenant_id, version_id)
    tag = parse_body(body, TagBody)
    record = TagRecord(
        tenant_id, version.prompt_id, tag["name"], version_id, tag.get("description")
    )
    await deps.store.set_prompt_tag(record)


async def version_tags(deps: Deps, tenant_id: str, version_id: str) -> dict[str, Any]:
    """``GET /v1/prompt_versions/{id}/tags``."""
    await get_version(deps, tenant_id, version_id)
    tags = await deps.store.list_version_tags(tenant_id, version_id)
    return {"data": [tag.to_api() for tag in tags], "next_cursor": None}


async def tagged_version(deps: Deps, tenant_id: str, name_or_id: str, tag: str) -> VersionRecord:
    """The version the prompt's tag names; 404 ``prompt_tag_not_found``."""
    prompt = await find_prompt(deps, tenant_id, name_or_id)
    record = await deps.store.get_prompt_tag(tenant_id, prompt.prompt_id, tag)
    if record is None:
        raise NotFound("prompt_tag_not_found", f"prompt {name_or_id!r} has no tag {tag!r}")
    return await get_version(deps, tenant_id, record.version_id)
