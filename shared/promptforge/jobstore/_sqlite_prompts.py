"""The SQLite job store's prompt registry (``prompts.store.PromptStore``), run on its thread.

``SqlitePrompts`` is the port's methods, mixed into ``SqliteJobStore``; the functions
below are what they run on the database thread.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from promptforge.jobstore._sqlite_batch import SqliteCalls
from promptforge.jobstore._sqlite_schema import from_micros, to_micros, transaction
from promptforge.jobstore.fields import dumps
from promptforge.prompts.store import PromptRecord, TagRecord, VersionRecord

_PROMPT = (
    "SELECT prompt_id, tenant_id, name, description, metadata, source_prompt_id, created_at "
    "FROM prompt_registry"
)
_VERSION = "SELECT version_id, tenant_id, prompt_id, data, created_at FROM prompt_versions"
_TAG = "SELECT tenant_id, prompt_id, name, version_id, description FROM prompt_tags"


def add_version(conn: sqlite3.Connection, prompt: PromptRecord, version: VersionRecord) -> None:
    """Create the prompt unless present, then insert the version, in one transaction."""
    with transaction(conn):
        conn.execute(
            "INSERT OR IGNORE INTO prompt_registry (prompt_id, tenant_id, name, description, "
            "metadata, source_prompt_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                prompt.prompt_id,
                prompt.tenant_id,
                prompt.name,
                prompt.description,
                dumps(prompt.metadata),
                prompt.source_prompt_id,
                to_micros(prompt.created_at),
            ),
        )
        conn.execute(
            "INSERT INTO prompt_versions (version_id, tenant_id, prompt_id, data, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                version.version_id,
                version.tenant_id,
                version.prompt_id,
                dumps(version.data),
                to_micros(version.created_at),
            ),
        )


def get_prompt(conn: sqlite3.Connection, tenant_id: str, prompt_id: str) -> PromptRecord | None:
    """The tenant's prompt, or None."""
    row = conn.execute(f"{_PROMPT} WHERE tenant_id = ? AND prompt_id = ?", (tenant_id, prompt_id))
    found = row.fetchone()
    return None if found is None else _prompt(found)


def list_prompts(
    conn: sqlite3.Connection, tenant_id: str, limit: int, start_name: str | None
) -> list[PromptRecord]:
    """The tenant's prompts by name, from ``start_name`` on."""
    rows = conn.execute(
        f"{_PROMPT} WHERE tenant_id = ? AND name >= ? ORDER BY name LIMIT ?",
        (tenant_id, start_name or "", limit),
    )
    return [_prompt(row) for row in rows]


def list_versions(
    conn: sqlite3.Connection, tenant_id: str, prompt_id: str, limit: int, start_id: str | None
) -> list[VersionRecord]:
    """A prompt's versions, newest first, from ``start_id`` down."""
    sql = f"{_VERSION} WHERE tenant_id = ? AND prompt_id = ?"
    args: tuple[Any, ...] = (tenant_id, prompt_id)
    if start_id is not None:
        sql += " AND version_id <= ?"
        args += (start_id,)
    rows = conn.execute(f"{sql} ORDER BY version_id DESC LIMIT ?", (*args, limit))
    return [_version(row) for row in rows]


def get_version(conn: sqlite3.Connection, tenant_id: str, version_id: str) -> VersionRecord | None:
    """The tenant's version, or None."""
    sql = f"{_VERSION} WHERE tenant_id = ? AND version_id = ?"
    found = conn.execute(sql, (tenant_id, version_id)).fetchone()
    return None if found is None else _version(found)


def set_tag(conn: sqlite3.Connection, tag: TagRecord) -> None:
    """Create or move the tag."""
    with transaction(conn):
        conn.execute(
            "INSERT INTO prompt_tags (tenant_id, prompt_id, name, version_id, description) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant_id, prompt_id, name) DO UPDATE SET "
            "version_id = excluded.version_id, description = excluded.description",
            (tag.tenant_id, tag.prompt_id, tag.name, tag.version_id, tag.description),
        )


def get_tag(
    conn: sqlite3.Connection, tenant_id: str, prompt_id: str, name: str
) -> TagRecord | None:
    """The prompt's tag called ``name``, or None."""
    sql = f"{_TAG} WHERE tenant_id = ? AND prompt_id = ? AND name = ?"
    found = conn.execute(sql, (tenant_id, prompt_id, name)).fetchone()
    return None if found is None else TagRecord(*found)


def version_tags(conn: sqlite3.Connection, tenant_id: str, version_id: str) -> list[TagRecord]:
    """The tags naming a version."""
    sql = f"{_TAG} WHERE tenant_id = ? AND version_id = ? ORDER BY name"
    return [TagRecord(*row) for row in conn.execute(sql, (tenant_id, version_id))]


def _prompt(row: tuple[Any, ...]) -> PromptRecord:
    prompt_id, tenant_id, name, description, metadata, source, created = row
    return PromptRecord(
        prompt_id, tenant_id, name, description, json.loads(metadata), source, from_micros(created)
    )


def _version(row: tuple[Any, ...]) -> VersionRecord:
    version_id, tenant_id, prompt_id, data, created = row
    return VersionRecord(version_id, tenant_id, prompt_id, json.loads(data), from_micros(created))


class SqlitePrompts(SqliteCalls):
    """The ``PromptStore`` methods of ``SqliteJobStore`` (which opens the database)."""

    async def add_prompt_version(self, prompt: PromptRecord, version: VersionRecord) -> None:
        """Create the prompt unless it exists, then add the version."""
        await self._call(add_version, prompt, version)

    async def get_prompt(self, tenant_id: str, prompt_id: str) -> PromptRecord | None:
        """The tenant's prompt, or None."""
        return await self._call(get_prompt, tenant_id, prompt_id)

    async def list_prompts(
        self, tenant_id: str, limit: int, start_name: str | None
    ) -> list[PromptRecord]:
        """The tenant's prompts by name."""
        return await self._call(list_prompts, tenant_id, limit, start_name)

    async def list_prompt_versions(
        self, tenant_id: str, prompt_id: str, limit: int, start_id: str | None
    ) -> list[VersionRecord]:
        """A prompt's versions, newest first."""
        return await self._call(list_versions, tenant_id, prompt_id, limit, start_id)

    async def get_prompt_version(self, tenant_id: str, version_id: str) -> VersionRecord | None:
        """The tenant's version, or None."""
        return await self._call(get_version, tenant_id, version_id)

    async def set_prompt_tag(self, tag: TagRecord) -> None:
        """Create or move the tag."""
        await self._call(set_tag, tag)

    async def get_prompt_tag(self, tenant_id: str, prompt_id: str, name: str) -> TagRecord | None:
        """The prompt's tag, or None."""
        return await self._call(get_tag, tenant_id, prompt_id, name)

    async def list_version_tags(self, tenant_id: str, version_id: str) -> list[TagRecord]:
        """The tags naming a version."""
        return await self._call(version_tags, tenant_id, version_id)
