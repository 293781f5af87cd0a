"""Tampered, expired, misused and replayed signed URLs against a live `promptforge serve`.

Every refused PUT answers with a code and stores nothing: the blob folder is the same
file for file afterwards and the job is still waiting for its upload. (Changing the
signature or the job id, and an upload URL used for GET, are in the quickstart tests.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from promptforge.blobstore.signing import UrlSigner
from tests.e2e.jobs import download, jsonl, make_prompts, wait_final
from tests.hostile.stack import SEED_BODY, Stack, error_of, raw_request, start_stack

pytestmark = pytest.mark.e2e

OCTET = {"Content-Type": "application/octet-stream"}
MAX_UPLOAD = 1_000_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("signed-urls"),
        tenants=["t"],
        PROMPTFORGE_MAX_UPLOAD_BYTES=str(MAX_UPLOAD),
    ) as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as http:
        yield http


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def _with_query(url: str, pairs: list[tuple[str, str]]) -> str:
    return urlunsplit(urlsplit(url)._replace(query=urlencode(pairs)))


def _changed(url: str, **changes: str | None) -> str:
    query = _query(url)
    for field, value in changes.items():
        name = field.replace("_", "-")
        if value is None:
            query.pop(name)
        else:
            query[name] = value
    return _with_query(url, list(query.items()))


def _tampered(url: str) -> list[tuple[str, str, dict[str, str], int, str]]:
    """(case, URL, headers, status, code) for one upload URL."""
    query = _query(url)
    later = str(int(query["X-PF-Expires"]) + 3600)
    signature = query["X-PF-Signature"]
    parts = urlsplit(url)
    output = parts._replace(path=parts.path.replace("promptforge-input", "promptforge-output"))
    return [
        ("expiry pushed back", _changed(url, X_PF_Expires=later), OCTET, 403, "signature_mismatch"),
        ("method rewritten", _changed(url, X_PF_Method="GET"), OCTET, 403, "signature_mismatch"),
        ("type unbound", _changed(url, X_PF_Content_Type=None), OCTET, 403, "signature_mismatch"),
        ("no signature", _changed(url, X_PF_Signature=None), OCTET, 403, "missing_signature"),
        (
            "cut signature",
            _changed(url, X_PF_Signature=signature[:40]),
            OCTET,
            403,
            "malformed_signature",
        ),
        (
            "signature twice",
            _with_query(url, [*query.items(), ("X-PF-Signature", signature)]),
            OCTET,
            403,
            "malformed_signature",
        ),
        ("other bucket", urlunsplit(output), OCTET, 403, "signature_mismatch"),
        ("wrong content type", url, {"Content-Type": "text/plain"}, 403, "content_type_mismatch"),
        ("no content type", url, {}, 403, "content_type_mismatch"),
    ]


def _files(stack: Stack) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in stack.stored_blobs()}


def test_tampered_upload_urls_are_refused_and_store_nothing(
    stack: Stack, client: httpx.Client
) -> None:
    key = stack.key("t").key
    created = client.post(f"{stack.url}/v1/jobs/init", headers={"X-API-Key": key}, json=SEED_BODY)
    url, job_id = created.json()["upload_url"], created.json()["job_id"]
    before = _files(stack)
    body = jsonl(make_prompts(3))
    for case, forged, headers, status, code in _tampered(url):
        response = client.put(forged, content=body, headers=headers)
        assert (response.status_code, error_of(response)["code"]) == (status, code), case
    for method in ("POST", "DELETE", "PATCH"):
        response = client.request(method, url, content=body, headers=OCTET)
        assert (response.status_code, error_of(response)["code"]) == (405, "method_not_allowed")
    assert _files(stack) == before
    status = client.get(f"{stack.url}/v1/jobs/{job_id}/status", headers={"X-API-Key": key})
    assert status.json()["status"] == "WAITING_FOR_UPLOAD" and status.json()["prompt_count"] == 0


def test_an_upload_over_the_limit_is_refused_and_nothing_is_kept(
    stack: Stack, client: httpx.Client
) -> None:
    key = stack.key("t").key
    created = client.post(f"{stack.url}/v1/jobs/init", headers={"X-API-Key": key}, json=SEED_BODY)
    url = created.json()["upload_url"]
    line = json.dumps({"prompt_id": "p", "prompt": "x" * 1000}).encode() + b"\n"
    body = line * (2 * MAX_UPLOAD // len(line))
    before = _files(stack)

    def chunked() -> Iterator[bytes]:
        yield from (body[i : i + 65536] for i in range(0, len(body), 65536))

    for content in (body, chunked()):  # declared by Content-Length, then discovered
        response = client.put(url, content=content, headers=OCTET)
        error = error_of(response)
        assert (response.status_code, error["code"]) == (413, "upload_too_large")
        assert error["details"]["max_upload_bytes"] == MAX_UPLOAD
        assert _files(stack) == before
    status = client.get(
        f"{stack.url}/v1/jobs/{created.json()['job_id']}/status", headers={"X-API-Key": key}
    )
    assert status.json()["status"] == "WAITING_FOR_UPLOAD"


def test_path_traversal_in_a_blob_url_never_leaves_the_store(stack: Stack) -> None:
    before = _files(stack)
    query = b"?X-PF-Method=PUT&X-PF-Expires=9999999999&X-PF-Signature=" + b"0" * 64
    for path in (
        b"/blobs/promptforge-input/..%2F..%2F..%2Fescaped.jsonl",
        b"/blobs/promptforge-input/t/%2E%2E/%2E%2E/escaped.jsonl",
        b"/blobs/promptforge-input/t/..%5C..%5Cescaped.jsonl",
        b"/blobs/promptforge-input/t/%00/prompts.jsonl",
        b"/blobs/..%2Fsigning.key/x",
    ):
        status, content = raw_request(
            stack.url, "PUT", path + query, OCTET | {"Content-Length": "0"}
        )
        assert status in (400, 403, 404), (path, status)
        assert json.loads(content)["error"]["code"]
    assert _files(stack) == before
    assert not list(stack.data.parent.rglob("escaped.jsonl"))


def test_an_expired_upload_url_is_refused_and_stores_nothing(
    stack: Stack, client: httpx.Client
) -> None:
    key = stack.key("t").key
    created = client.post(f"{stack.url}/v1/jobs/init", headers={"X-API-Key": key}, json=SEED_BODY)
    upload = urlsplit(created.json()["upload_url"])
    bucket, name = upload.path.removeprefix("/blobs/").split("/", 1)
    # Signed with the server's own key, already expired: only the expiry is wrong.
    signer = UrlSigner((stack.data / "signing.key").read_text().strip().encode(), stack.url)
    expired = signer.sign(
        bucket,
        name,
        method="PUT",
        expires_at=datetime.now(UTC) - timedelta(seconds=5),
        content_type=OCTET["Content-Type"],
    )
    before = _files(stack)
    response = client.put(expired, content=jsonl(make_prompts(2)), headers=OCTET)
    error = error_of(response)
    assert (response.status_code, error["code"]) == (403, "url_expired")
    assert "/v1/jobs/init" in error["message"]
    assert _files(stack) == before


def _finished_job(stack: Stack, client: httpx.Client) -> tuple[str, str, dict[str, Any]]:
    """A job run to the end; its upload URL; its status."""
    key = stack.key("t").key
    created = client.post(
        f"{stack.url}/v1/jobs/init", headers={"X-API-Key": key}, json=SEED_BODY | {"max_retries": 0}
    ).json()
    assert client.put(
        created["upload_url"], content=jsonl(make_prompts(2)), headers=OCTET
    ).is_success
    status = wait_final(client, stack.url, key, created["job_id"], timeout=60)
    return created["job_id"], created["upload_url"], status


def test_a_replayed_upload_never_changes_a_started_job(stack: Stack, client: httpx.Client) -> None:
    key = stack.key("t").key
    job_id, url, status = _finished_job(stack, client)
    files = download(client, stack.url, key, job_id)
    client.put(url, content=jsonl(make_prompts(5, prefix="replayed-")), headers=OCTET)
    again = wait_final(client, stack.url, key, job_id)
    assert again == status
    assert download(client, stack.url, key, job_id) == files


def test_a_replayed_upload_is_refused_with_a_code(stack: Stack, client: httpx.Client) -> None:
    _, url, _ = _finished_job(stack, client)
    before = _files(stack)
    response = client.put(url, content=jsonl(make_prompts(5, prefix="replayed-")), headers=OCTET)
    assert (response.status_code, error_of(response)["code"]) == (409, "upload_exists")
    assert "POST /v1/jobs/init" in error_of(response)["message"]
    assert _files(stack) == before


def test_a_download_url_cannot_upload(stack: Stack, client: httpx.Client) -> None:
    key = stack.key("t").key
    job_id, _, _ = _finished_job(stack, client)
    listing = client.get(f"{stack.url}/v1/jobs/{job_id}/results", headers={"X-API-Key": key})
    before = _files(stack)
    for entry in listing.json()["files"]:
        response = client.put(entry["url"], content=b"overwritten\n", headers=OCTET)
        assert (response.status_code, error_of(response)["code"]) == (403, "method_not_allowed")
        assert "download URL" in error_of(response)["message"]
    assert _files(stack) == before
