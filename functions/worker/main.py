"""The worker function: one prompt per Cloud Tasks call (private: OIDC from Cloud Tasks only)."""

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from promptforge.gcp.functions import FunctionInstance

_instance = FunctionInstance("worker")


@functions_framework.aio.http
async def worker(request: Request) -> Response:
    """Claim the prompt, call its provider, record the outcome exactly once."""
    return await _instance.tasks(request)
