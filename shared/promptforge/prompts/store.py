"""The prompt registry's port, which both job stores implement (SQLite and Firestore).

Every read takes the tenant: a prompt, version or tag of another tenant is as absent as
one that never existed. A prompt's id derives from (tenant, name), so creating a prompt
on first use of its name is one create-if-absent. Versions are written once and never
changed; their ids sort by creation time (newest last), which is how "latest" is found.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from promptforge.clock import isoformat


@dataclass(frozen=True)
class PromptRecord:
    """A named prompt of one tenant."""

    prompt_id: str
    tenant_id: str
    name: str
    description: str | None
    metadata: dict[str, Any]
    source_prompt_id: str | None
    created_at: datetime

    def to_api(self) -> dict[str, Any]:
        """Phoenix's ``Prompt`` object."""
        body: dict[str, Any] = {"id": self.prompt_id, "name": self.name, "metadata": self.metadata}
        if self.description is not None:
            body["description"] = self.description
        if self.source_prompt_id is not None:
            body["source_prompt_id"] = self.source_prompt_id
        body["created_at"] = isoformat(self.created_at)
        return body


@dataclass(frozen=True)
class VersionRecord:
    """One immutable version: ``data`` is Phoenix's ``PromptVersionData`` as it was posted."""

    version_id: str
    tenant_id: str
    prompt_id: str
    data: dict[str, Any]
    created_at: datetime

    def to_api(self) -> dict[str, Any]:
        """Phoenix's ``PromptVersion`` object: the data and its id."""
        return {**self.data, "id": self.version_id}


@dataclass(frozen=True)
class TagRecord:
    """A tag: names one version of a prompt (moves when set again)."""

    tenant_id: str
    prompt_id: str
    name: str
    version_id: str
    description: str | None

    @property
    def tag_id(self) -> str:
        """A stable id for the tag (Phoenix's ``PromptVersionTag.id``)."""
        return "tag_" + _digest(self.tenant_id, self.prompt_id, self.name)

    def to_api(self) -> dict[str, Any]:
        """Phoenix's ``PromptVersionTag`` object."""
        body: dict[str, Any] = {"id": self.tag_id, "name": self.name}
        if self.description is not None:
            body["description"] = self.description
        return body


def prompt_id_for(tenant_id: str, name: str) -> str:
    """The id of the tenant's prompt called ``name`` (a name is unique per tenant)."""
    return "prm_" + _digest(tenant_id, name)


def new_version_id(now: datetime) -> str:
    """A fresh version id that sorts after every earlier one's."""
    micros = int(now.timestamp() * 1_000_000)
    return f"pv_{micros:015x}{secrets.token_hex(6)}"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


class PromptStore(Protocol):
    """Prompts, versions and tags, tenant-scoped."""

    async def add_prompt_version(self, prompt: PromptRecord, version: VersionRecord) -> None:
        """Create ``prompt`` unless its id exists (the stored one stays), then add ``version``."""
        ...

    async def get_prompt(self, tenant_id: str, prompt_id: str) -> PromptRecord | None:
        """The tenant's prompt with this id, or None."""
        ...

    async def list_prompts(
        self, tenant_id: str, limit: int, start_name: str | None
    ) -> list[PromptRecord]:
        """Up to ``limit`` of the tenant's prompts by name, from ``start_name`` on."""
        ...

    async def list_prompt_versions(
        self, tenant_id: str, prompt_id: str, limit: int, start_id: str | None
    ) -> list[VersionRecord]:
        """Up to ``limit`` versions of a prompt, newest first, from ``start_id`` down."""
        ...

    async def get_prompt_version(self, tenant_id: str, version_id: str) -> VersionRecord | None:
        """The tenant's version with this id, or None."""
        ...

    async def set_prompt_tag(self, tag: TagRecord) -> None:
        """Point the tag at its version (created, or moved from another version)."""
        ...

    async def get_prompt_tag(self, tenant_id: str, prompt_id: str, name: str) -> TagRecord | None:
        """The tag of the prompt with this name, or None."""
        ...

    async def list_version_tags(self, tenant_id: str, version_id: str) -> list[TagRecord]:
        """The tags naming this version, by name."""
        ...
