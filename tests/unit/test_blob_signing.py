"""Signed blob URLs: round trips, every kind of tampering, expiry, and object-name rules."""

from __future__ import annotations

import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from promptforge.blobstore.signing import (
    CONTENT_TYPE_PARAM,
    EXPIRES_PARAM,
    KEY_PARAM,
    METHOD_PARAM,
    SIGNATURE_PARAM,
    UrlSigner,
    check_bucket_name,
    check_object_name,
)
from promptforge.errors import SignatureError

SECRET = b"0123456789abcdef0123456789abcdef"
BASE = "http://127.0.0.1:8080"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(minutes=15)
BUCKET = "promptforge-input"
NAME = "tenant-1/job 42/prompts.jsonl"
OCTET = "application/octet-stream"


def _signer() -> UrlSigner:
    return UrlSigner(SECRET, BASE)


def _parse(url: str) -> tuple[str, str, dict[str, str]]:
    """Split a blob URL the way the server routes it: bucket, decoded name, decoded query."""
    if not url.startswith(f"{BASE}/blobs/"):
        raise SignatureError("no_route", f"{url} is not a blob URL")
    target = url.removeprefix(f"{BASE}/blobs/").partition("#")[0]
    path, _, query_string = target.partition("?")
    bucket, _, raw_name = path.partition("/")
    pairs = parse_qsl(query_string, keep_blank_values=True)
    query = dict(pairs)
    if len(query) != len(pairs):
        raise SignatureError("malformed_signature", "a parameter appears twice")
    return unquote(bucket), unquote(raw_name), query


def _verify(
    url: str,
    *,
    method: str = "PUT",
    content_type: str | None = OCTET,
    now: datetime = NOW,
    signer: UrlSigner | None = None,
) -> None:
    bucket, name, query = _parse(url)
    (signer or _signer()).verify(
        bucket, name, method=method, query=query, content_type=content_type, now=now
    )


def _put_url(name: str = NAME, bucket: str = BUCKET) -> str:
    return _signer().sign(bucket, name, method="PUT", expires_at=EXPIRES, content_type=OCTET)


def _refusal(url: str, **kwargs: object) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        _verify(url, **kwargs)  # type: ignore[arg-type]
    return caught.value


def _replace_param(url: str, param: str, value: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query[param] = value
    rebuilt = "&".join(f"{key}={val}" for key, val in query.items())
    return parts._replace(query=rebuilt).geturl()


def test_put_url_has_the_documented_shape_and_verifies() -> None:
    url = _put_url()
    assert url.startswith(f"{BASE}/blobs/{BUCKET}/tenant-1/job%2042/prompts.jsonl?")
    _, _, query = _parse(url)
    assert query[METHOD_PARAM] == "PUT"
    assert query[EXPIRES_PARAM] == str(int(EXPIRES.timestamp()))
    assert query[CONTENT_TYPE_PARAM] == OCTET
    assert len(query[SIGNATURE_PARAM]) == 64
    _verify(url)


def test_get_url_without_content_type_verifies_for_get() -> None:
    url = _signer().sign(
        "promptforge-output",
        "t/j/results_part_001.jsonl",
        method="GET",
        expires_at=EXPIRES,
        content_type=None,
    )
    assert CONTENT_TYPE_PARAM not in _parse(url)[2]
    _verify(url, method="GET", content_type=None)


@pytest.mark.parametrize(
    "name", ["plain", "a/b/c.jsonl", "ünïcødé/名前.txt", "sp ace/q?x#y%z+&=.jsonl", "...x/.y"]
)
def test_names_round_trip_through_the_url(name: str) -> None:
    url = _put_url(name)
    assert _parse(url)[1] == name
    _verify(url)


def test_trailing_slash_on_base_url_is_ignored() -> None:
    url = UrlSigner(SECRET, BASE + "/").sign(
        BUCKET, "x", method="PUT", expires_at=EXPIRES, content_type=None
    )
    assert url.startswith(f"{BASE}/blobs/{BUCKET}/x?")


@pytest.mark.parametrize(
    ("tamper", "description"),
    [
        (lambda u: u.replace("prompts.jsonl", "prompts.jsonm"), "name"),
        (lambda u: u.replace("/tenant-1/", "/tenant-2/"), "folder"),
        (lambda u: u.replace(f"/{BUCKET}/", "/promptforge-output/"), "bucket"),
        (lambda u: _replace_param(u, EXPIRES_PARAM, str(int(EXPIRES.timestamp()) + 1)), "expiry"),
        (lambda u: _replace_param(u, METHOD_PARAM, "GET"), "method"),
        (lambda u: _replace_param(u, CONTENT_TYPE_PARAM, "text/plain"), "content type"),
        (lambda u: u.replace(f"&{CONTENT_TYPE_PARAM}=application%2Foctet-stream", ""), "unbind"),
    ],
)
def test_every_tampering_is_a_signature_mismatch(
    tamper: Callable[[str], str], description: str
) -> None:
    url = _put_url()
    tampered = tamper(url)
    assert tampered != url, description
    method = "GET" if description == "method" else "PUT"
    content_type = "text/plain" if description == "content type" else OCTET
    assert _refusal(tampered, method=method, content_type=content_type).code == (
        "signature_mismatch"
    )


def test_a_changed_signature_digit_is_a_mismatch() -> None:
    url = _put_url()
    signature = _parse(url)[2][SIGNATURE_PARAM]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    assert _refusal(_replace_param(url, SIGNATURE_PARAM, flipped)).code == "signature_mismatch"


def test_a_url_signed_before_the_secret_changed_says_the_key_changed() -> None:
    other = UrlSigner(b"another secret of 32 bytes......", BASE)
    error = _refusal(_put_url(), signer=other)
    assert error.code == "signing_key_changed"
    assert "signing secret changed" in error.message
    assert "POST /v1/jobs/init" in error.message


def test_the_key_id_is_signed_and_names_this_servers_key() -> None:
    url = _put_url()
    assert _parse(url)[2][KEY_PARAM] == _signer().key_id
    assert _refusal(_replace_param(url, KEY_PARAM, "0badc0de")).code == "signing_key_changed"
    tampered = _replace_param(url, SIGNATURE_PARAM, "0" * 64)  # our key id, a bad signature
    assert _refusal(tampered).code == "signature_mismatch"


def test_an_old_url_without_a_key_id_is_a_mismatch_under_another_key() -> None:
    url = _put_url()
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query) if k != KEY_PARAM]
    old = parts._replace(query="&".join(f"{k}={v}" for k, v in kept)).geturl()
    other = UrlSigner(b"another secret of 32 bytes......", BASE)
    assert _refusal(old, signer=other).code == "signature_mismatch"


def test_upload_url_used_for_download_is_method_not_allowed() -> None:
    error = _refusal(_put_url(), method="GET", content_type=None)
    assert error.code == "method_not_allowed"
    assert "PUT only" in error.message
    assert "/v1/jobs/" in error.message


def test_download_url_used_for_upload_is_method_not_allowed() -> None:
    url = _signer().sign(BUCKET, NAME, method="GET", expires_at=EXPIRES, content_type=None)
    error = _refusal(url, method="PUT")
    assert error.code == "method_not_allowed"
    assert "/v1/jobs/init" in error.message


def test_expiry_boundary() -> None:
    url = _put_url()
    _verify(url, now=EXPIRES - timedelta(microseconds=1))
    error = _refusal(url, now=EXPIRES)
    assert error.code == "url_expired"
    assert error.message == (
        "the upload URL expired at 2026-01-01T12:15:00Z; call /v1/jobs/init again for a new one"
    )


def test_expired_download_url_says_where_to_get_new_links() -> None:
    url = _signer().sign(BUCKET, NAME, method="GET", expires_at=EXPIRES, content_type=None)
    error = _refusal(url, method="GET", now=EXPIRES + timedelta(hours=1))
    assert error.code == "url_expired"
    assert "/results" in error.message


def test_expiry_is_rounded_down_to_whole_seconds() -> None:
    url = _signer().sign(
        BUCKET,
        NAME,
        method="PUT",
        expires_at=EXPIRES + timedelta(milliseconds=900),
        content_type=None,
    )
    assert _refusal(url, now=EXPIRES).code == "url_expired"


def test_content_type_binding() -> None:
    url = _put_url()
    assert _refusal(url, content_type="text/plain").code == "content_type_mismatch"
    error = _refusal(url, content_type=None)
    assert error.code == "content_type_mismatch"
    assert OCTET in error.message
    _verify(url, content_type="Application/Octet-Stream")
    unbound = _signer().sign(BUCKET, NAME, method="PUT", expires_at=EXPIRES, content_type=None)
    _verify(unbound, content_type="text/anything")
    _verify(unbound, content_type=None)


@pytest.mark.parametrize(
    ("param", "value", "code"),
    [
        (SIGNATURE_PARAM, None, "missing_signature"),
        (SIGNATURE_PARAM, "", "missing_signature"),
        (SIGNATURE_PARAM, "ab" * 31, "malformed_signature"),
        (SIGNATURE_PARAM, "AB" * 32, "malformed_signature"),
        (EXPIRES_PARAM, "soon", "malformed_signature"),
        (EXPIRES_PARAM, "0" + str(int(EXPIRES.timestamp())), "malformed_signature"),
        (EXPIRES_PARAM, None, "malformed_signature"),
        (METHOD_PARAM, "DELETE", "malformed_signature"),
        (METHOD_PARAM, "put", "malformed_signature"),
        (METHOD_PARAM, None, "malformed_signature"),
    ],
)
def test_missing_or_malformed_parameters(param: str, value: str | None, code: str) -> None:
    bucket, name, query = _parse(_put_url())
    if value is None:
        del query[param]
    else:
        query[param] = value
    with pytest.raises(SignatureError) as caught:
        _signer().verify(bucket, name, method="PUT", query=query, content_type=OCTET, now=NOW)
    assert caught.value.code == code


BAD_NAMES = [
    "",
    "..",
    "../secret",
    "a/../../etc/passwd",
    "a/..",
    ".",
    "a/./b",
    "/etc/passwd",
    "a//b",
    "a/",
    "a\\..\\b",
    "a\x00b",
    "line\nbreak",
    "x.__meta__",
    "dir.__tmp__/x",
    "x" * 201,
    "/".join(["y" * 100] * 11),
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_object_names_are_refused_everywhere(name: str) -> None:
    with pytest.raises(SignatureError) as caught:
        check_object_name(name)
    assert caught.value.code == "invalid_object_name"
    with pytest.raises(SignatureError) as caught:
        _signer().sign(BUCKET, name, method="PUT", expires_at=EXPIRES, content_type=None)
    assert caught.value.code == "invalid_object_name"
    _, _, query = _parse(_put_url())
    with pytest.raises(SignatureError) as caught:
        _signer().verify(BUCKET, name, method="PUT", query=query, content_type=OCTET, now=NOW)
    assert caught.value.code == "invalid_object_name"


@pytest.mark.parametrize("bucket", ["..", "ab", "Upper", "a/b", "-start", "end-", "a" * 64])
def test_bad_bucket_names_are_refused(bucket: str) -> None:
    with pytest.raises(SignatureError) as caught:
        check_bucket_name(bucket)
    assert caught.value.code == "invalid_bucket_name"
    with pytest.raises(SignatureError):
        _signer().sign(bucket, "x", method="GET", expires_at=EXPIRES, content_type=None)


def test_sign_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="signed"):
        _signer().sign(BUCKET, "x", method="DELETE", expires_at=EXPIRES, content_type=None)
    with pytest.raises(ValueError, match="timezone"):
        _signer().sign(
            BUCKET, "x", method="PUT", expires_at=EXPIRES.replace(tzinfo=None), content_type=None
        )
    with pytest.raises(ValueError, match="secret"):
        UrlSigner(b"short", BASE)


_NAME_CHARS = st.characters(
    codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters="/\\"
)
_SEGMENTS = st.text(_NAME_CHARS, min_size=1, max_size=12).filter(
    lambda s: s not in (".", "..") and not s.endswith((".__meta__", ".__tmp__"))
)
_REPLACEMENTS = st.sampled_from(string.printable.strip() + " é")


@settings(max_examples=400, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    segments=st.lists(_SEGMENTS, min_size=1, max_size=3),
    method=st.sampled_from(["GET", "PUT"]),
    bind=st.booleans(),
    data=st.data(),
)
def test_any_single_character_change_fails_verification(
    segments: list[str], method: str, bind: bool, data: st.DataObject
) -> None:
    name = "/".join(segments)
    content_type = "application/x-ndjson" if bind else None
    url = _signer().sign(BUCKET, name, method=method, expires_at=EXPIRES, content_type=content_type)
    start = len(BASE)
    _verify(url, method=method, content_type=content_type)

    position = data.draw(st.integers(min_value=start, max_value=len(url) - 1), label="position")
    replacement = data.draw(_REPLACEMENTS.filter(lambda c: c != url[position]), label="char")
    mutated = url[:position] + replacement + url[position + 1 :]
    try:
        same_meaning = _parse(mutated) == _parse(url)
    except SignatureError:
        same_meaning = False
    assume(not same_meaning)  # e.g. %2f for %2F decodes to the same URL
    with pytest.raises(SignatureError):
        _verify(mutated, method=method, content_type=content_type)
