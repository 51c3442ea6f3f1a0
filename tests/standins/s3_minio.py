"""A stand-in for a MinIO server, for the compose smoke test (scripts/deploy_smoke.py) only.

Where MinIO's image cannot be pulled, this serves moto's S3 (the WSGI application of
`moto_server`, which speaks the S3 REST protocol: path-style buckets, multipart uploads,
ranged GETs) where the stack file expects MinIO, honouring what the deployment relies on:

- it takes MinIO's command line (`server /data --console-address :9001`) and ignores it,
  but for `--address [HOST]:PORT` (default `MINIO_ADDRESS`, else `:9000`); objects are kept
  in memory, not in the data directory: they do not survive a restart;
- `MINIO_ROOT_USER` and the password from `MINIO_ROOT_PASSWORD_FILE` (else
  `MINIO_ROOT_PASSWORD`) are required at start, as MinIO requires them; a password file
  that cannot be read stops it with an error, as it stops MinIO;
- a signed request made with another access key than the root user is refused (403
  `InvalidAccessKeyId`, S3's answer). Signatures are not checked: moto does not;
- MinIO's health paths `/minio/health/live`, `/minio/health/ready` and
  `/minio/health/cluster` answer 200 without credentials.

    python tests/standins/s3_minio.py server /data [--address :9000]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

HEALTH_PATHS = frozenset({"/minio/health/live", "/minio/health/ready", "/minio/health/cluster"})
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class MinioFront:
    """MinIO's health paths and its root user's access key in front of moto's S3."""

    def __init__(self, app: WsgiApp, access_key: str) -> None:
        self._app = app
        self._access_key = access_key

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") in HEALTH_PATHS:
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]
        used = self._access_key_of(environ)
        if used is not None and used != self._access_key:
            body = (
                b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidAccessKeyId</Code>'
                b"<Message>The Access Key Id you provided does not exist in our records."
                b"</Message></Error>"
            )
            headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
            start_response("403 Forbidden", headers)
            return [body]
        return self._app(environ, start_response)

    @staticmethod
    def _access_key_of(environ: dict[str, Any]) -> str | None:
        found = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        if found is not None:
            return found.group(1)
        query = environ.get("QUERY_STRING", "")
        presigned = re.search(r"(?:^|&)X-Amz-Credential=([^&%]+)(?:%2F|/)", query)
        return presigned.group(1) if presigned is not None else None


def _root_password() -> str:
    path = os.environ.get("MINIO_ROOT_PASSWORD_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as file:
                password = file.read().strip()
        except OSError as exc:
            sys.exit(f"ERROR Unable to read MINIO_ROOT_PASSWORD_FILE {path}: {exc}")
    else:
        password = os.environ.get("MINIO_ROOT_PASSWORD", "")
    if len(password) < 8:
        sys.exit("ERROR Invalid credentials: the root password must be at least 8 characters")
    return password


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("command", nargs="?", default="server", choices=["server"])
    parser.add_argument("--address", default=os.environ.get("MINIO_ADDRESS", ":9000"))
    args, ignored = parser.parse_known_args(argv)

    user = os.environ.get("MINIO_ROOT_USER", "")
    if len(user) < 3:
        sys.exit("ERROR Invalid credentials: MINIO_ROOT_USER must be at least 3 characters")
    _root_password()
    host, _, port = args.address.rpartition(":")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"S3 stand-in (moto) for MinIO on {host or '0.0.0.0'}:{port}; ignored: {ignored}")
    app = MinioFront(DomainDispatcherApplication(create_backend_app), user)
    run_simple(
        host or "0.0.0.0",
        int(port),
        app,
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
