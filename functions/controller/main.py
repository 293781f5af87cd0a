"""The controller function: ingest slices, finalize, expiry and the rate controller's ticks.

Private: it accepts only Cloud Tasks calls carrying an OIDC token for the task service account.
"""

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from promptforge.gcp.functions import FunctionInstance

_instance = FunctionInstance("controller")


@functions_framework.aio.http
async def controller(request: Request) -> Response:
    """Run one control-queue task (ingest, slice, finalize, expire or a controller tick)."""
    return await _instance.tasks(request)
