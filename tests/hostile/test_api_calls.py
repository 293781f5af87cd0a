"""Bad API calls against a live `promptforge serve`: a clear error, a code, and no side effect.

Each refused call answers ``{"error": {"code", "message", "status"}}`` with a message that
names what to fix, and leaves the store as it was (no job made by a refused init). The
seed quickstart tests already cover a missing or wrong key, ``{not json``, a missing field
and an unsupported provider or model; these are the nastier ones. Keys: one tenant per
concern, so that per-key limits in one test never bleed into another.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from promptforge.api.throttle import DEFAULT_LIMITS, INIT
from tests.e2e.jobs import init_and_upload, jsonl, make_prompts, wait_final
from tests.hostile.stack import SEED_BODY, Stack, error_of, raw_request, start_stack

pytestmark = pytest.mark.e2e

TENANTS = ["alice", "bodies", "bodies", "bob", "revokee", "limited", "limited-other"]
MISSING = "00000000-0000-4000-8000-000000000000"
UNKNOWN_KEY = "pf_" + secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with start_stack(tmp_path_factory.mktemp("api-calls"), tenants=TENANTS) as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as http:
        yield http


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        value = {"type": "array", "items": value}
    return value


def _seed(**fields: object) -> bytes:
    return json.dumps(SEED_BODY | fields).encode()


def _raw_seed(extra: bytes) -> bytes:
    return b'{"provider": "openai", "model": "gpt-4o-mini", ' + extra + b"}"


DEEP_SCHEMA = {"type": "json_schema", "json_schema": {"name": "s", "schema": _nested(80)}}

BAD_BODIES: list[tuple[str, bytes, int, str, str]] = [
    # (case, body, status, code, text the message must contain)
    ("10 MB", b" " * (10 * 1024 * 1024), 413, "body_too_large", "upload_url"),
    ("empty", b"", 400, "malformed_json", "JSON"),
    ("an array", b"[]", 400, "malformed_json", "JSON object"),
    ("a string", b'"openai"', 400, "malformed_json", "JSON object"),
    ("null", b"null", 400, "malformed_json", "JSON object"),
    ("latin-1", b'{"provider": "openai", "model": "caf\xe9"}', 400, "malformed_json", "JSON"),
    ("30k-deep", b"[" * 30_000 + b"]" * 30_000, 400, "malformed_json", "levels"),
    ("deep schema", _seed(response_format=DEEP_SCHEMA), 400, "malformed_json", "64 levels"),
    ("5000 digits", _raw_seed(b'"seed": 1' + b"0" * 5000), 400, "malformed_json", "digits"),
    ("provider list", _seed(provider=["openai"]), 400, "invalid_field", "provider"),
    ("retries bool", _seed(max_retries=True), 400, "invalid_field", "max_retries"),
    ("rpm float", _seed(rpm=1.5), 400, "invalid_field", "rpm"),
    ("huge temperature", _seed(temperature=10**400), 400, "invalid_field", "temperature"),
    ("seed over int64", _seed(seed=2**64), 400, "invalid_field", "seed"),
    ("lone surrogate", _seed(model="\ud800"), 400, "invalid_field", "model"),
    ("unknown field", _seed(callback_url="http://x"), 400, "unknown_field", "callback_url"),
    (
        "private webhook",
        _seed(webhook_url="http://10.0.0.7/h"),
        400,
        "private_webhook_url",
        "10.0.0.7",
    ),
    (
        "metadata webhook",
        _seed(webhook_url="http://169.254.169.254/"),
        400,
        "private_webhook_url",
        "public",
    ),
    ("unresolvable webhook", _seed(webhook_url="http://x"), 400, "invalid_webhook_url", "'x'"),
    ("bad format", _seed(response_format={"type": "xml"}), 400, "invalid_field", "response_format"),
]


@pytest.mark.parametrize(
    ("body", "status", "code", "needle"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
def test_a_refused_init_says_what_to_fix_and_creates_no_job(
    stack: Stack, client: httpx.Client, body: bytes, status: int, code: str, needle: str
) -> None:
    before = stack.job_count()
    key = stack.key("bodies", len(body) % 2).key  # two keys: the cases fit their bursts
    response = client.post(
        f"{stack.url}/v1/jobs/init",
        headers={"X-API-Key": key, "Content-Type": "application/json"},
        content=body,
    )
    assert (response.status_code, error_of(response)["code"]) == (status, code), response.text
    assert needle in error_of(response)["message"]
    assert stack.job_count() == before


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
        ("application/octet-stream", 415),
        ("application/json; charset=utf-8", 202),
        ("Application/JSON", 202),
    ],
)
def test_init_takes_a_body_labelled_json_only(
    stack: Stack, client: httpx.Client, content_type: str, status: int
) -> None:
    before = stack.job_count()
    response = client.post(
        f"{stack.url}/v1/jobs/init",
        headers={"X-API-Key": stack.next_key("bodies"), "Content-Type": content_type},
        content=_seed(),
    )
    assert response.status_code == status, response.text
    if status == 415:
        error = error_of(response)
        assert error["code"] == "unsupported_media_type"
        assert content_type in error["message"] and "application/json" in error["message"]
        assert stack.job_count() == before


def test_a_chunked_body_over_the_limit_is_cut_off_at_64_kib(
    stack: Stack, client: httpx.Client
) -> None:
    before = stack.job_count()
    sent = []

    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            sent.append(1)
            yield b" " * 65536

    response = client.post(
        f"{stack.url}/v1/jobs/init", headers={"X-API-Key": stack.key("alice").key}, content=chunks()
    )
    assert (response.status_code, error_of(response)["code"]) == (413, "body_too_large")
    assert stack.job_count() == before


HOSTILE_IDS = [
    b"..%2F..%2F..%2Fetc%2Fpasswd",
    b"..%2F..",
    b"%2e%2e",
    b"..",
    b"%00",
    b"%00..%2F",
    MISSING.encode() + b"%00",
    b"%E2%80%AE" + MISSING[::-1].encode(),  # right-to-left override
    b"%D9%A1" * 32,  # Arabic-Indic digits: a UUID to Python's uuid module
    b"%FF%FE%FD",
    b"a" * 10_000,
    b"%27%20OR%201%3D1%20--",
    b"%7B" + MISSING.encode() + b"%7D",  # {uuid}: another spelling of a UUID
    b"*",
]


@pytest.mark.parametrize("job_id", HOSTILE_IDS, ids=range(len(HOSTILE_IDS)))
@pytest.mark.parametrize("endpoint", ["status", "results"])
def test_hostile_job_ids_are_400_or_404_never_a_crash(
    stack: Stack, job_id: bytes, endpoint: str
) -> None:
    answer = raw_request(
        stack.url,
        "GET",
        b"/v1/jobs/" + job_id + f"/{endpoint}".encode(),
        {"X-API-Key": stack.key("alice").key},
    )
    assert answer[0] in (400, 404), answer
    assert error_of(answer)["code"] in {"invalid_job_id", "job_not_found", "not_found"}


def test_raw_non_ascii_in_the_request_line_is_refused_by_the_http_layer(stack: Stack) -> None:
    key = {"X-API-Key": stack.key("alice").key}
    for job_id in ("\u202e" + MISSING, "\u0661" * 32):
        status, _ = raw_request(stack.url, "GET", f"/v1/jobs/{job_id}/status".encode(), key)
        assert status == 400  # not HTTP at all: uvicorn refuses it before the app


def test_hostile_job_ids_in_literal_path_segments_never_reach_a_file(stack: Stack) -> None:
    key = {"X-API-Key": stack.key("alice").key}
    for path in (b"/v1/jobs/../../../../etc/passwd", b"/v1/jobs/../jobs/x/../status"):
        answer = raw_request(stack.url, "GET", path, key)
        assert answer[0] in (400, 404), answer
        assert b"root:" not in answer[1]


def test_another_tenants_job_is_indistinguishable_from_a_missing_one(
    stack: Stack, client: httpx.Client
) -> None:
    alice, bob = stack.key("alice").key, stack.key("bob").key
    job_id = init_and_upload(client, stack.url, alice, jsonl(make_prompts(1)), max_retries=0)
    assert wait_final(client, stack.url, alice, job_id, timeout=60)["status"] == "COMPLETED"
    for endpoint in ("status", "results"):
        theirs = client.get(f"{stack.url}/v1/jobs/{job_id}/{endpoint}", headers={"X-API-Key": bob})
        missing = client.get(
            f"{stack.url}/v1/jobs/{MISSING}/{endpoint}", headers={"X-API-Key": bob}
        )
        assert theirs.status_code == missing.status_code == 404
        assert theirs.text.replace(job_id, MISSING) == missing.text
        assert sorted(theirs.headers.keys()) == sorted(missing.headers.keys())
        # And the owner still sees it: the 404 was about the caller, not the job.
        mine = client.get(f"{stack.url}/v1/jobs/{job_id}/{endpoint}", headers={"X-API-Key": alice})
        assert mine.status_code == 200


def test_a_revoked_key_is_refused_everywhere_at_once(stack: Stack, client: httpx.Client) -> None:
    revokee = stack.key("revokee")
    headers = {"X-API-Key": revokee.key}
    job_id = init_and_upload(client, stack.url, revokee.key, jsonl(make_prompts(1)))
    assert client.get(f"{stack.url}/v1/jobs/{job_id}/status", headers=headers).status_code == 200
    stack.revoke(revokee)
    before = stack.job_count()
    unknown = client.get(f"{stack.url}/v1/jobs/{job_id}/status", headers={"X-API-Key": UNKNOWN_KEY})
    for response in (
        client.get(f"{stack.url}/v1/jobs/{job_id}/status", headers=headers),
        client.get(f"{stack.url}/v1/jobs/{job_id}/results", headers=headers),
        client.post(f"{stack.url}/v1/jobs/init", headers=headers, json=SEED_BODY),
    ):
        assert (response.status_code, error_of(response)["code"]) == (401, "invalid_api_key")
        assert response.text == unknown.text  # revoked looks exactly like unknown
    assert stack.job_count() == before


def test_per_key_limits_answer_429_with_retry_after_and_no_side_effect(
    stack: Stack, client: httpx.Client
) -> None:
    limited = {"X-API-Key": stack.key("limited").key}
    burst, sent = DEFAULT_LIMITS[INIT].burst, DEFAULT_LIMITS[INIT].burst + 5
    before = stack.job_count()
    answers = [
        client.post(f"{stack.url}/v1/jobs/init", headers=limited, json=SEED_BODY)
        for _ in range(sent)
    ]
    created = [a for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code == 429]
    assert len(created) + len(refused) == sent
    assert burst <= len(created) <= burst + 1 and refused  # the burst, then refusals
    assert stack.job_count() == before + len(created)  # a refused init made nothing
    error = error_of(refused[0])
    assert error["code"] == "rate_limited" and "a minute" in error["message"]
    wait = int(refused[0].headers["Retry-After"])
    assert 1 <= wait <= 2 and error["details"]["retry_after"] == wait

    # Per key and per endpoint: another key, and this key's status calls, are unaffected.
    other = {"X-API-Key": stack.key("limited-other").key}
    assert client.post(f"{stack.url}/v1/jobs/init", headers=other, json=SEED_BODY).is_success
    job_id = created[0].json()["job_id"]
    assert client.get(f"{stack.url}/v1/jobs/{job_id}/status", headers=limited).is_success

    time.sleep(wait)
    assert client.post(f"{stack.url}/v1/jobs/init", headers=limited, json=SEED_BODY).is_success


def test_a_body_sent_with_a_get_is_ignored_not_read(stack: Stack, client: httpx.Client) -> None:
    headers = {"X-API-Key": stack.key("alice").key}
    for endpoint in ("status", "results"):
        response = client.request(
            "GET",
            f"{stack.url}/v1/jobs/{MISSING}/{endpoint}",
            headers=headers,
            content=b"x" * (20 * 1024 * 1024),
        )
        assert (response.status_code, error_of(response)["code"]) == (404, "job_not_found")
    assert client.get(f"{stack.url}/healthz").status_code == 200


def test_no_key_reaches_the_server_log(stack: Stack) -> None:
    """Runs last in this module: every key above (refused, revoked, limited) was sent by now.

    ``tests/e2e/test_secrets.py`` searches a DEBUG run's logs and stores; this searches the
    log of the hostile calls, for each key and for 16-character pieces of it (a masked or
    cut copy still holds one).
    """
    keys = {f"{key.tenant}#{i}": key.key for i, key in enumerate(stack.keys)}
    keys |= {"provider": "sk-test-provider-key-0123456789", "unknown": UNKNOWN_KEY}
    log = stack.proc.log_path.read_bytes()
    assert b"promptforge" in log.lower()  # the log is there and is the server's
    leaked = [
        name
        for name, key in keys.items()
        if any(piece.encode() in log for piece in (key, key[3:19], key[-16:]))
    ]
    assert leaked == []
