"""The one place a provider request meets the network: httpx in, ``CallResult`` out.

Transport failures are results, not exceptions:

    timeout (httpx's, or the overall deadline)         TRANSIENT  timeout
    connect error, reset, dropped connection, proxy    TRANSIENT  connection_error
    a body httpx cannot decode (bad gzip)              TRANSIENT  malformed_response
    a request httpx refuses to send (bad URL/header)   PERMANENT  invalid_request

No message ever carries the request's headers or credentials: the URL is shown without
its query, exception texts are scrubbed of every header value, and so is whatever the
provider's own error message echoes back.
"""

from __future__ import annotations

import contextlib
import dataclasses
from urllib.parse import parse_qsl, urlsplit

import anyio
import httpx

from promptforge.providers.base import CallOutcome, CallResult, HttpRequest, ProviderAdapter

_REDACTED = "[redacted]"
# Headers whose values are never credentials, so a message may mention them.
_PUBLIC_HEADERS = frozenset(
    {"accept", "anthropic-beta", "anthropic-version", "content-type", "user-agent"}
)
_MIN_SECRET_CHARS = 6


# ``timeout`` is part of the contract: a per-call budget the worker derives from its task
# deadline; it is enforced below with ``anyio.fail_after``, as ASYNC109 recommends.
async def send(
    client: httpx.AsyncClient,
    adapter: ProviderAdapter,
    request: HttpRequest,
    *,
    timeout: float,  # noqa: ASYNC109
) -> CallResult:
    """Send ``request`` and let ``adapter`` classify the response; ``timeout`` bounds the call.

    Never raises for anything the network or the provider does.
    """
    try:
        with anyio.fail_after(timeout):
            response = await client.request(
                request.method,
                request.url,
                headers=request.headers,
                json=request.json,
                timeout=timeout,
            )
    except (httpx.TimeoutException, TimeoutError) as exc:
        why = f"no response within {timeout:g} s"
        return _failure(request, CallOutcome.TRANSIENT, "timeout", why, exc)
    except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as exc:
        why = "the connection failed or was dropped"
        return _failure(request, CallOutcome.TRANSIENT, "connection_error", why, exc)
    except httpx.DecodingError as exc:
        why = "the response body could not be decoded"
        return _failure(request, CallOutcome.TRANSIENT, "malformed_response", why, exc)
    except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
        # Their texts can quote the offending header value, credential included: leave them out.
        why = "the request could not be sent (check the base URL and the credential's format)"
        return _failure(request, CallOutcome.PERMANENT, "invalid_request", why, exc, detail=False)
    except httpx.RequestError as exc:
        why = "the request failed"
        return _failure(request, CallOutcome.TRANSIENT, "connection_error", why, exc)
    headers = {name.lower(): value for name, value in response.headers.items()}
    result = adapter.parse_response(response.status_code, headers, response.content)
    if result.error_message is None:
        return result
    scrubbed = _scrub(result.error_message, _secrets(request))
    if scrubbed == result.error_message:
        return result
    return dataclasses.replace(result, error_message=scrubbed)


def _failure(
    request: HttpRequest,
    outcome: CallOutcome,
    code: str,
    why: str,
    exc: BaseException,
    *,
    detail: bool = True,
) -> CallResult:
    """A transport failure, described without the request's secrets."""
    message = f"{request.method} {_public_url(request.url)}: {why} ({type(exc).__name__}"
    text = str(exc).strip() if detail else ""
    message += f": {_scrub(text, _secrets(request))})" if text else ")"
    return CallResult(outcome=outcome, error_code=code, error_message=message)


def _public_url(url: str) -> str:
    """Scheme, host, port and path: no user info, no query (an API key may ride there)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "<invalid URL>"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _secrets(request: HttpRequest) -> list[str]:
    """Every header value (and each word of it, so ``Bearer KEY`` yields ``KEY``) and query value.

    Longest first, so a value is replaced before any shorter piece of it.
    """
    values: set[str] = set()
    for name, value in request.headers.items():
        if name.lower() not in _PUBLIC_HEADERS:
            values.add(value.strip())
            values.update(value.split())
    with contextlib.suppress(ValueError):
        values.update(value for _, value in parse_qsl(urlsplit(request.url).query))
    return sorted((v for v in values if len(v) >= _MIN_SECRET_CHARS), key=len, reverse=True)


def _scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every secret replaced."""
    for secret in secrets:
        text = text.replace(secret, _REDACTED)
    return text
