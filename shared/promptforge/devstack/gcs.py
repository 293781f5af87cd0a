"""The GCS stand-in: PyPI's gcp-storage-emulator, plus what GCS and Eventarc do that it does not.

Run as ``python -m promptforge.devstack.gcs [options]``. It
binds 127.0.0.1 on a free port and prints ``PORT <n>`` once it serves. On top of the
emulator (in memory, single-threaded):

- requests carrying a V4 signature are checked against ``--public-key`` first, the way
  GCS checks them (``v4_signatures.check_v4``): a wrong method, object, content type or
  an expired URL gets GCS's 403/400 instead of reaching the emulator;
- every object stored in ``--notify-bucket`` is announced to ``--notify`` as a binary
  CloudEvent ``google.cloud.storage.object.v1.finalized`` (what Eventarc delivers), from
  a background thread, retried a few times while the receiver fails.
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import sys
import threading
import time
from http import HTTPStatus
from typing import Any
from urllib import error, request
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gcp_storage_emulator import server as emulator  # type: ignore[import-untyped]
from gcp_storage_emulator.handlers import buckets  # type: ignore[import-untyped]
from gcp_storage_emulator.storage import Storage  # type: ignore[import-untyped]

from promptforge.devstack.cloudevents import finalize_event
from promptforge.devstack.v4_signatures import SignatureRefused, check_v4, is_signed

NOTIFY_ATTEMPTS = 5


def _signature_checking_handler(public_key: rsa.RSAPublicKey) -> type[emulator.RequestHandler]:
    class Handler(emulator.RequestHandler):  # type: ignore[misc]
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self._signature_ok("GET"):
                super().do_GET()

        def do_PUT(self) -> None:  # noqa: N802 (http.server's name)
            if self._signature_ok("PUT"):
                super().do_PUT()

        def _signature_ok(self, method: str) -> bool:
            parts = urlsplit(self.path)
            if not is_signed(parts.query):
                return True
            headers = {key.lower(): value for key, value in self.headers.items()}
            try:
                check_v4(method, parts.path, parts.query, headers, public_key)
            except SignatureRefused as exc:
                expired = str(exc).startswith("ExpiredToken")
                status = HTTPStatus.BAD_REQUEST if expired else HTTPStatus.FORBIDDEN
                code = "ExpiredToken" if expired else "SignatureDoesNotMatch"
                body = f"<Error><Code>{code}</Code><Message>{exc}</Message></Error>".encode()
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return False
            return True

    return Handler


class _Notifier(threading.Thread):
    """Posts finalize CloudEvents for stored objects, in order, retrying failures."""

    def __init__(self, url: str, bucket: str) -> None:
        super().__init__(daemon=True)
        self.url, self.bucket = url, bucket
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()

    def stored(self, obj: dict[str, Any]) -> None:
        if obj.get("bucket") == self.bucket:
            self.events.put(dict(obj))

    def run(self) -> None:
        while True:
            obj = self.events.get()
            for attempt in range(NOTIFY_ATTEMPTS):
                if self._post(obj):
                    break
                time.sleep(0.2 * 2**attempt)

    def _post(self, obj: dict[str, Any]) -> bool:
        headers, event = finalize_event(obj["bucket"], obj["name"], obj["generation"])
        data: dict[str, Any] = {
            **event,
            "size": str(obj.get("size") or 0),
            "contentType": obj.get("contentType"),
            "timeCreated": obj.get("timeCreated"),
        }
        body = json.dumps(data).encode()
        req = request.Request(self.url, data=body, method="POST")  # noqa: S310 (our --notify URL)
        for key, value in {"Content-Type": "application/json", **headers}.items():
            req.add_header(key, value)
        try:
            with request.urlopen(req, timeout=30) as response:  # noqa: S310 (http only, ours)
                return bool(200 <= response.status < 300)
        except (error.URLError, OSError) as exc:
            logging.warning("finalize event for %s not delivered: %s", obj["name"], exc)
            return False


def main(argv: list[str]) -> int:
    """Start the stand-in and serve until killed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--public-key", required=True, help="PEM public key that signs URLs")
    parser.add_argument("--bucket", action="append", default=[], help="bucket to create")
    parser.add_argument("--notify", help="URL that receives finalize CloudEvents")
    parser.add_argument("--notify-bucket", help="bucket whose objects are announced")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with open(args.public_key, "rb") as handle:
        key = serialization.load_pem_public_key(handle.read())
    if not isinstance(key, rsa.RSAPublicKey):
        raise SystemExit("--public-key must be an RSA public key")
    emulator.RequestHandler = _signature_checking_handler(key)
    if args.notify:
        notifier = _Notifier(args.notify, args.notify_bucket or "")
        notifier.start()
        original = Storage.create_file

        def create_file(self: Storage, bucket: str, name: str, *rest: Any, **kw: Any) -> Any:
            result = original(self, bucket, name, *rest, **kw)
            notifier.stored(self.objects[bucket][name])
            return result

        Storage.create_file = create_file
    server = emulator.create_server("127.0.0.1", 0, in_memory=True)
    for bucket in args.bucket:
        buckets.create_bucket(bucket, server._storage)
    server.start()
    print(f"PORT {server._api._httpd.server_address[1]}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
