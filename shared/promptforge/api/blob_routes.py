"""The signed blob URLs of the embedded runtime, as documented operations.

The routes themselves are served by ``blobstore.http`` (no API key: the signature is the
authority); these entries put them in the OpenAPI document beside the job operations.
"""

from __future__ import annotations

from promptforge.api.operations import Failure, Operation
from promptforge.api.schemas import BlobStored, SignedUrlQuery

NDJSON = "application/x-ndjson"
_SIGNED_URL_CODES = (
    "missing_signature",
    "malformed_signature",
    "signature_mismatch",
    "method_not_allowed",
    "url_expired",
    "content_type_mismatch",
)
_BLOB_NAME_CODES = ("invalid_bucket_name", "invalid_object_name", "invalid_content_length")
_BLOB_PATH = "/blobs/{bucket}/{name}"

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "PUT",
        _BLOB_PATH,
        "uploadBlob",
        "Upload the job's JSONL file to its signed upload_url (embedded runtime)",
        None,
        BlobStored,
        description="Use the upload_url from /v1/jobs/init exactly as given; no API key. On "
        "the Google runtime the upload_url is a Cloud Storage V4 signed URL instead.",
        raw_body="application/octet-stream",
        query=SignedUrlQuery,
        authenticated=False,
        failures=(
            Failure(400, "Bad bucket or object name, or Content-Length.", _BLOB_NAME_CODES),
            Failure(403, "The signed URL was refused.", _SIGNED_URL_CODES),
            Failure(
                404,
                "Not a blob URL (an object name with a line break matches no route).",
                ("not_found",),
            ),
            Failure(405, "Blob URLs accept GET, HEAD and PUT only.", ("method_not_allowed",)),
            Failure(
                409,
                "The file was already uploaded (an upload URL works once), or the object "
                "name is taken by a folder.",
                ("upload_exists", "object_name_conflict"),
            ),
            Failure(413, "Larger than the upload limit.", ("upload_too_large",)),
        ),
    ),
    Operation(
        "GET",
        _BLOB_PATH,
        "downloadBlob",
        "Download a result file from its signed URL (embedded runtime)",
        None,
        None,
        query=SignedUrlQuery,
        streams=NDJSON,
        authenticated=False,
        failures=(
            Failure(400, "Bad bucket or object name.", _BLOB_NAME_CODES),
            Failure(403, "The signed URL was refused.", _SIGNED_URL_CODES),
            Failure(
                404, "No such object, or not a blob URL at all.", ("object_not_found", "not_found")
            ),
            Failure(405, "Blob URLs accept GET, HEAD and PUT only.", ("method_not_allowed",)),
        ),
    ),
)
"""Upload and download through a signed URL, registered in ``api.routes.API_OPERATIONS``."""
