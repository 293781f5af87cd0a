"""The finalize CloudEvent GCS sends through Eventarc, as the ingest function receives it."""

from __future__ import annotations

import uuid

FINALIZED = "google.cloud.storage.object.v1.finalized"


def finalize_event(
    bucket: str, name: str, generation: int | str
) -> tuple[dict[str, str], dict[str, str]]:
    """The headers (binary content mode, a fresh ``ce-id``) and body of one finalize event."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": uuid.uuid4().hex,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "ce-type": FINALIZED,
        "ce-subject": f"objects/{name}",
    }
    return headers, {"bucket": bucket, "name": name, "generation": str(generation)}
