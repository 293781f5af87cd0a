"""The Firestore job store's prompt registry (``prompts.store.PromptStore``).

``{prefix}_prompts/{prompt_id}`` (the id derives from tenant and name, so creating a prompt
on first use is a create-if-absent in the version's transaction),
``{prefix}_prompt_versions/{version_id}`` (the version's data as JSON text: Firestore
cannot hold every JSON value, arrays of arrays for one) and
``{prefix}_prompt_tags/{tag_id}``. Every document carries its ``tenant_id`` and every
read checks it.
"""

from __future__ import annotations

import json
from typing import Any

from google.cloud.firestore import AsyncTransaction, FieldFilter, Query

from promptforge.gcp._firestore_codec import from_timestamp, safe_id
from promptforge.gcp._firestore_layout import Layout
from promptforge.gcp._firestore_tx import read_documents, run_transaction
from promptforge.jobstore.fields import dumps, to_utc
from promptforge.prompts.store import PromptRecord, TagRecord, VersionRecord


class FirestorePrompts:
    """The ``PromptStore`` methods of ``FirestoreJobStore`` (which sets ``_layout``)."""

    _layout: Layout

    async def add_prompt_version(self, prompt: PromptRecord, version: VersionRecord) -> None:
        """Create the prompt unless it exists, then add the version, in one transaction."""
        layout = self._layout
        prompt_ref = layout.prompts.document(safe_id(prompt.prompt_id))
        version_ref = layout.prompt_versions.document(safe_id(version.version_id))

        async def body(transaction: AsyncTransaction) -> None:
            found = await read_documents(layout.client, [prompt_ref], transaction)
            if not found[prompt_ref.path].exists:
                transaction.create(prompt_ref, _encode_prompt(prompt))
            transaction.create(
                version_ref,
                {
                    "tenant_id": version.tenant_id,
                    "prompt_id": version.prompt_id,
                    "version_id": version.version_id,
                    "data": dumps(version.data),
                    "created_at": to_utc(version.created_at),
                },
            )

        await run_transaction(layout.client, body)

    async def get_prompt(self, tenant_id: str, prompt_id: str) -> PromptRecord | None:
        """The tenant's prompt, or None."""
        data = (await self._layout.prompts.document(safe_id(prompt_id)).get()).to_dict()
        if data is None or data.get("tenant_id") != tenant_id:
            return None
        return _decode_prompt(prompt_id, data)

    async def list_prompts(
        self, tenant_id: str, limit: int, start_name: str | None
    ) -> list[PromptRecord]:
        """The tenant's prompts by name, from ``start_name`` on."""
        query = self._layout.prompts.where(filter=FieldFilter("tenant_id", "==", tenant_id))
        if start_name is not None:
            query = query.where(filter=FieldFilter("name", ">=", start_name))
        query = query.order_by("name").limit(limit)
        return [_decode_prompt(snap.id, snap.to_dict() or {}) async for snap in query.stream()]

    async def list_prompt_versions(
        self, tenant_id: str, prompt_id: str, limit: int, start_id: str | None
    ) -> list[VersionRecord]:
        """A prompt's versions, newest first, from ``start_id`` down."""
        query = self._layout.prompt_versions.where(
            filter=FieldFilter("tenant_id", "==", tenant_id)
        ).where(filter=FieldFilter("prompt_id", "==", prompt_id))
        if start_id is not None:
            query = query.where(filter=FieldFilter("version_id", "<=", start_id))
        query = query.order_by("version_id", direction=Query.DESCENDING).limit(limit)
        return [_decode_version(snap.to_dict() or {}) async for snap in query.stream()]

    async def get_prompt_version(self, tenant_id: str, version_id: str) -> VersionRecord | None:
        """The tenant's version, or None."""
        ref = self._layout.prompt_versions.document(safe_id(version_id))
        data = (await ref.get()).to_dict()
        if data is None or data.get("tenant_id") != tenant_id:
            return None
        return _decode_version(data)

    async def set_prompt_tag(self, tag: TagRecord) -> None:
        """Create or move the tag (one document per tag name and prompt)."""
        await self._layout.prompt_tags.document(tag.tag_id).set(
            {
                "tenant_id": tag.tenant_id,
                "prompt_id": tag.prompt_id,
                "name": tag.name,
                "version_id": tag.version_id,
                "description": tag.description,
            }
        )

    async def get_prompt_tag(self, tenant_id: str, prompt_id: str, name: str) -> TagRecord | None:
        """The prompt's tag, or None."""
        probe = TagRecord(tenant_id, prompt_id, name, "", None)
        data = (await self._layout.prompt_tags.document(probe.tag_id).get()).to_dict()
        return None if data is None else _decode_tag(data)

    async def list_version_tags(self, tenant_id: str, version_id: str) -> list[TagRecord]:
        """The tags naming a version, by name."""
        query = self._layout.prompt_tags.where(
            filter=FieldFilter("tenant_id", "==", tenant_id)
        ).where(filter=FieldFilter("version_id", "==", version_id))
        tags = [_decode_tag(snap.to_dict() or {}) async for snap in query.stream()]
        return sorted(tags, key=lambda tag: tag.name)


def _encode_prompt(prompt: PromptRecord) -> dict[str, Any]:
    return {
        "tenant_id": prompt.tenant_id,
        "name": prompt.name,
        "description": prompt.description,
        "metadata": dumps(prompt.metadata),
        "source_prompt_id": prompt.source_prompt_id,
        "created_at": to_utc(prompt.created_at),
    }


def _decode_prompt(prompt_id: str, data: dict[str, Any]) -> PromptRecord:
    return PromptRecord(
        prompt_id=prompt_id,
        tenant_id=data["tenant_id"],
        name=data["name"],
        description=data.get("description"),
        metadata=json.loads(data["metadata"]),
        source_prompt_id=data.get("source_prompt_id"),
        created_at=from_timestamp(data["created_at"]),
    )


def _decode_version(data: dict[str, Any]) -> VersionRecord:
    return VersionRecord(
        version_id=data["version_id"],
        tenant_id=data["tenant_id"],
        prompt_id=data["prompt_id"],
        data=json.loads(data["data"]),
        created_at=from_timestamp(data["created_at"]),
    )


def _decode_tag(data: dict[str, Any]) -> TagRecord:
    return TagRecord(
        data["tenant_id"], data["prompt_id"], data["name"], data["version_id"], data["description"]
    )
