#!/usr/bin/env python3
"""Push an image in containers/image's `dir:` layout to a plain-HTTP registry (Distribution API v2).

Usage: registry.py push REGISTRY DIR REPOSITORY:TAG   -> prints REGISTRY/REPOSITORY@sha256:...

Blobs the registry has already are skipped (HEAD), the others are uploaded in one PUT each,
then the manifest is PUT by tag with its own media type. The digest printed is the one the
registry answers in Docker-Content-Digest, checked against the SHA-256 of the manifest bytes,
so a pod pulling `REPOSITORY@digest` gets exactly this image. Standard library only: it runs
inside the node's network namespace (scripts/node/up.sh), where the registry listens.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

CHUNK = 1 << 20


def _connection(registry: str) -> http.client.HTTPConnection:
    host, _, port = registry.partition(":")
    return http.client.HTTPConnection(host, int(port or 80), timeout=120)


def _request(registry: str, method: str, path: str, body: object = None, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    conn = _connection(registry)
    conn.request(method, path, body=body, headers=headers or {})
    return conn.getresponse()


def _push_blob(registry: str, repo: str, digest: str, blob: Path) -> bool:
    """Upload one blob unless the registry has it; True when uploaded."""
    head = _request(registry, "HEAD", f"/v2/{repo}/blobs/{digest}")
    head.read()
    if head.status == 200:
        return False
    start = _request(registry, "POST", f"/v2/{repo}/blobs/uploads/", body=b"", headers={"Content-Length": "0"})
    start.read()
    if start.status != 202:
        raise SystemExit(f"registry.py: starting the upload of {digest} to {repo}: HTTP {start.status}")
    location = urlsplit(start.headers["Location"])
    target = f"{location.path}?{location.query + '&' if location.query else ''}digest={digest}"
    size = blob.stat().st_size
    with blob.open("rb") as data:
        put = _request(
            registry,
            "PUT",
            target,
            body=iter(lambda: data.read(CHUNK), b""),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
        )
        answer = put.read()
    if put.status != 201:
        raise SystemExit(f"registry.py: uploading {digest} ({size} bytes) to {repo}: HTTP {put.status} {answer[:300]!r}")
    return True


def push(registry: str, directory: Path, reference: str) -> str:
    repo, _, tag = reference.rpartition(":")
    if not repo or "/" in tag:
        raise SystemExit(f"registry.py: {reference!r} is not REPOSITORY:TAG")
    raw = (directory / "manifest.json").read_bytes()
    manifest = json.loads(raw)
    media_type = manifest.get("mediaType") or "application/vnd.oci.image.manifest.v1+json"
    for descriptor in [manifest["config"], *manifest["layers"]]:
        digest = descriptor["digest"]
        blob = directory / digest.split(":", 1)[1]
        if not blob.is_file():
            raise SystemExit(f"registry.py: {directory} lacks blob {digest}")
        _push_blob(registry, repo, digest, blob)
    put = _request(registry, "PUT", f"/v2/{repo}/manifests/{tag}", body=raw, headers={"Content-Type": media_type})
    answer = put.read()
    if put.status != 201:
        raise SystemExit(f"registry.py: PUT manifest {reference}: HTTP {put.status} {answer[:300]!r}")
    expected = "sha256:" + hashlib.sha256(raw).hexdigest()
    digest = put.headers.get("Docker-Content-Digest", "")
    if digest != expected:
        raise SystemExit(f"registry.py: the registry says {digest!r} for {reference}, the manifest's SHA-256 is {expected}")
    return f"{registry}/{repo}@{digest}"


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] != "push":
        sys.stderr.write(__doc__ or "")
        return 2
    print(push(argv[1], Path(argv[2]), argv[3]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
