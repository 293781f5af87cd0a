"""The api function: PromptForge's public HTTP API (``api.routes``), auth by API key."""

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from promptforge.gcp.functions import FunctionInstance

_instance = FunctionInstance("api")


@functions_framework.aio.http
async def api(request: Request) -> Response:
    """Serve one API request (the only public function)."""
    return await _instance.api(request)
