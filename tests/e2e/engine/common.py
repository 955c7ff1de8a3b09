"""What the real-engine tests share: the image they run (render mode: nothing pulls it) and where their figures go."""

from __future__ import annotations

import hashlib

from offline.paths import BUILD_DIR

# A digest-pinned reference: in render mode nothing pulls it.
IMAGE = "registry.example.com/platform/fastapi-service:1.0.0@sha256:" + hashlib.sha256(b"engine-test").hexdigest()
REPORT_DIR = BUILD_DIR / "engine"
