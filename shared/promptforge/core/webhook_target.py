"""Where a webhook may go, and sending one there: public addresses only, checked at every send.

A webhook URL is the user's, and PromptForge calls it from inside its own network, so a
URL that resolves to a private, loopback, link-local, shared, reserved or multicast
address is refused (``private_webhook_url``) when the job is created and again before
every attempt: DNS may have changed in between. The send then connects to the very
address that was checked (the URL's host goes in ``Host`` and, over HTTPS, in SNI and
the certificate check), so a name that resolves differently a moment later (DNS
rebinding) cannot redirect it. Redirects are not followed. ``allow_private`` (the
operator's ``PROMPTFORGE_WEBHOOK_ALLOW_PRIVATE``, for tests) skips the address check.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import SplitResult, urlsplit

import httpx

from promptforge.errors import BadRequest
from promptforge.providers.durations import parse_retry_after

MAX_URL_CHARS = 2048
"""The longest webhook URL accepted."""

RESOLVE_TIMEOUT = 5.0
"""Seconds a webhook host may take to resolve."""

SEND_TIMEOUT = 15.0
"""Seconds an attempt may take (Standard Webhooks recommends 15-30 s)."""

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class SendResult:
    """One attempt: the receiver's status (None when it never answered) and why it failed."""

    status: int | None
    error: str | None = None
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        """A 2xx answer: the receiver has the event."""
        return self.status is not None and 200 <= self.status < 300


async def check_webhook_url(url: str, *, allow_private: bool) -> None:
    """Refuse (400) a URL that is malformed, does not resolve, or reaches a non-public address."""
    parts = _parse(url)
    try:
        await _addresses(parts, allow_private=allow_private)
    except _Unresolved as exc:
        raise BadRequest("invalid_webhook_url", f"{exc}; give a URL whose host resolves") from exc


async def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    now: datetime,
    allow_private: bool,
    answer_within: float = SEND_TIMEOUT,
) -> SendResult:
    """POST ``body`` to ``url`` at an address checked just now; never raises for the network.

    A URL refused now raises ``BadRequest`` (``private_webhook_url``, ``invalid_webhook_url``):
    the caller gives up on it rather than retrying.
    """
    parts = _parse(url)
    try:
        addresses = await _addresses(parts, allow_private=allow_private)
    except _Unresolved as exc:
        return SendResult(None, str(exc))
    last = "no address to connect to"
    async with httpx.AsyncClient(
        timeout=answer_within, follow_redirects=False, trust_env=False
    ) as http:
        for address in addresses:
            target, extensions = _pinned(parts, address)
            try:
                response = await http.post(
                    target,
                    content=body,
                    headers={**headers, "Host": parts.netloc},
                    extensions=extensions,
                )
            except httpx.ConnectError as exc:
                last = f"could not connect to {address}: {exc}"
                continue  # nothing was sent: the next address may answer
            except httpx.TimeoutException:
                return SendResult(None, f"no answer within {answer_within:g} s")
            except httpx.HTTPError as exc:
                return SendResult(None, f"{type(exc).__name__}: {exc}")
            retry_after = parse_retry_after(response.headers.get("retry-after"), now)
            return SendResult(response.status_code, None, retry_after)
    return SendResult(None, last)


class _Unresolved(Exception):
    """The host did not resolve now (DNS may recover: the attempt is retried)."""


def _parse(url: str) -> SplitResult:
    problem = None
    try:
        parts = urlsplit(url)
        _ = parts.port  # ValueError for a port that is not a number in range
    except ValueError as exc:
        problem = str(exc)
    else:
        if len(url) > MAX_URL_CHARS:
            problem = f"it is longer than {MAX_URL_CHARS} characters"
        elif parts.scheme not in ("http", "https") or not parts.hostname:
            problem = "it must be an absolute http:// or https:// URL"
        elif parts.username is not None or parts.password is not None:
            problem = "it must not carry a user name or password"
        elif any(ch.isspace() for ch in url):
            problem = "it must not contain whitespace"
    if problem is not None:
        raise BadRequest("invalid_webhook_url", f"webhook_url is not usable: {problem}")
    return parts


async def _addresses(parts: SplitResult, *, allow_private: bool) -> list[str]:
    """The host's addresses (deduplicated, in resolver order), every one of them public."""
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError as exc:
        raise _Unresolved(
            f"webhook_url host {host!r} did not resolve within {RESOLVE_TIMEOUT:g} s"
        ) from exc
    except (socket.gaierror, UnicodeError) as exc:
        raise _Unresolved(f"webhook_url host {host!r} does not resolve: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_private:
        refused = [a for a in addresses if not _public(ipaddress.ip_address(a.split("%")[0]))]
        if refused or not addresses:
            raise BadRequest(
                "private_webhook_url",
                f"webhook_url host {host!r} resolves to {', '.join(refused) or 'nothing'}, "
                "which is not a public address; give a URL on the public internet",
            )
    return addresses


def _public(address: IpAddress) -> bool:
    """Globally routable unicast: not private, loopback, link-local, shared or reserved."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _pinned(parts: SplitResult, address: str) -> tuple[str, dict[str, str]]:
    """The URL with ``address`` for its host, and the TLS server name to check there."""
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    target = parts._replace(netloc=netloc).geturl()
    extensions = {"sni_hostname": parts.hostname or ""} if parts.scheme == "https" else {}
    return target, extensions
