"""The ingest function: a GCS object-finalize CloudEvent on the input bucket starts the job."""

import functions_framework.aio
from cloudevents.http.event import CloudEvent

from promptforge.gcp.functions import FunctionInstance

_instance = FunctionInstance("ingest")


@functions_framework.aio.cloud_event
async def ingest(cloud_event: CloudEvent) -> None:
    """Turn a google.cloud.storage.object.v1.finalized event into the upload's ingest task."""
    await _instance.ingest(cloud_event)
