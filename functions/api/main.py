"""The api function: PromptForge's public HTTP API (init, status, results), auth by X-API-Key."""

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from promptforge.gcp.functions import FunctionInstance

_instance = FunctionInstance("api")


@functions_framework.aio.http
async def api(request: Request) -> Response:
    """Serve one API request (the only public function)."""
    return await _instance.api(request)
