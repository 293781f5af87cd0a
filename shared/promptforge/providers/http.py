"""The one place a provider request meets the network: httpx in, ``CallResult`` out.

Transport failures are results, not exceptions:

    timeout (httpx's, or the overall deadline)         TRANSIENT  timeout
    connect error, reset, dropped connection, proxy    TRANSIENT  connection_error
    a body httpx cannot decode (bad gzip)              TRANSIENT  malformed_response
    a request httpx refuses to send (bad URL/header)   PERMANENT  invalid_request

No message ever carries the request's headers or credentials: the URL is shown without
its query, exception texts are scrubbed of every header value, and so is whatever the
provider's own error message echoes back.

``provider_client`` builds the one ``httpx.AsyncClient`` a runtime shares for provider
calls. httpcore's pool rescans every connection (and the idle ones against each other)
each time a request is queued or a response closed, so one pool of a thousand
connections spends more time on bookkeeping than on HTTP: 200 connections to a
zero-latency server run 5x slower than 10. ``PooledTransport`` gives every connection
a pool of its own and hands free ones out from a stack.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import ssl
from collections.abc import AsyncIterator
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

KEEPALIVE_SECONDS = 30.0
"""How long an idle provider connection is kept for reuse."""


class PooledTransport(httpx.AsyncBaseTransport):
    """Up to ``max_connections`` connections per host, each in a one-connection pool of its own.

    A request takes the connection freed most recently (so light traffic keeps reusing
    a few warm ones); when all are busy it waits in one of the pools, round-robin.
    """

    def __init__(
        self, max_connections: int, *, keepalive_expiry: float = KEEPALIVE_SECONDS
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        self._max = max_connections
        self._limits = httpx.Limits(
            max_connections=1, max_keepalive_connections=1, keepalive_expiry=keepalive_expiry
        )
        # One TLS context for all: building one loads the CA bundle (~10 ms each).
        self._ssl = httpx.create_ssl_context()
        self._hosts: dict[tuple[str, str, int | None], _HostPools] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send on a free connection of the request's host; it is busy until the body closes."""
        url = request.url
        host = self._hosts.get((url.scheme, url.host, url.port))
        if host is None:
            host = _HostPools(self._max, self._limits, self._ssl)
            self._hosts[(url.scheme, url.host, url.port)] = host
        index, owned = host.acquire()
        try:
            response = await host.pools[index].handle_async_request(request)
        except BaseException:
            if owned:
                host.free.append(index)
            raise
        stream = response.stream
        if not owned or not isinstance(stream, httpx.AsyncByteStream):
            if owned:  # pragma: no cover - httpx transports always return an AsyncByteStream
                host.free.append(index)
            return response
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_Releasing(stream, host.free, index),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close every connection."""
        for host in self._hosts.values():
            for pool in host.pools:
                await pool.aclose()


class _HostPools:
    """One host's one-connection pools, and the stack of those not in use."""

    def __init__(self, limit: int, limits: httpx.Limits, ssl_context: ssl.SSLContext) -> None:
        self.limit = limit
        self.limits = limits
        self.ssl_context = ssl_context
        self.pools: list[httpx.AsyncHTTPTransport] = []
        self.free: list[int] = []
        self._next = 0

    def acquire(self) -> tuple[int, bool]:
        """A pool index, and whether the caller owns it (else it queues behind a busy one)."""
        if self.free:
            return self.free.pop(), True
        if len(self.pools) < self.limit:
            self.pools.append(httpx.AsyncHTTPTransport(verify=self.ssl_context, limits=self.limits))
            return len(self.pools) - 1, True
        self._next = (self._next + 1) % len(self.pools)
        return self._next, False


class _Releasing(httpx.AsyncByteStream):
    """A response body that gives its connection back (once) when closed."""

    def __init__(self, stream: httpx.AsyncByteStream, free: list[int], index: int) -> None:
        self._stream = stream
        self._free = free
        self._index = index
        self._held = True

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()  # no generator of our own around every chunk

    async def aclose(self) -> None:
        if self._held:
            self._held = False
            self._free.append(self._index)
        await self._stream.aclose()


class _NoCookies(httpx.Cookies):
    """A cookie jar that never keeps one."""

    def extract_cookies(self, response: httpx.Response) -> None:
        """Ignore ``Set-Cookie``."""

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        """Keep nothing."""


class _CookielessClient(httpx.AsyncClient):
    """An ``AsyncClient`` that neither stores nor sends cookies.

    One client carries every tenant's provider calls: a cookie one provider response
    sets (load balancers and bot filters do) must not ride along on the next tenant's
    call. Skipping the cookie jar also saves ~50 µs a call, most of what httpx spends
    outside the connection itself.
    """

    def __init__(self, *, transport: httpx.AsyncBaseTransport, timeout: float) -> None:
        super().__init__(transport=transport, timeout=timeout)
        self._none = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        """Always empty."""
        return self._none

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        """Cookies are not kept: setting them is ignored."""


def provider_client(max_connections: int, timeout: float) -> httpx.AsyncClient:
    """The shared client for provider calls: ``max_connections`` per host at most, no cookies."""
    return _CookielessClient(transport=PooledTransport(max_connections), timeout=timeout)


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
                _parsed_url(request.url),
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


@functools.lru_cache(maxsize=256)
def _parsed_url(url: str) -> httpx.URL:
    """Parse a provider URL once: parsing costs httpx more than building the rest of a call.

    Provider URLs are few (one per base URL and model), so the cache stays small.
    """
    return httpx.URL(url)


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
