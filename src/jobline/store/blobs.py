"""The blob store: input and output bytes as files under the data directory."""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path

from jobline.errors import OutputNotFound, ServiceUnavailable

# What keys and groups are made of (``<job uuid>/<hex>``): no ``..``, no absolute path, so a
# key names a file under the root without resolving it on every read.
_KEY = re.compile(r"[0-9A-Za-z_-]+(?:/[0-9A-Za-z_-]+)*")


class BlobStore:
    """Files addressed by opaque keys (``<job uuid>/<random>``), grouped by job for cleanup."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._root = root.resolve()

    def put(self, group: str, data: bytes) -> str:
        """Store ``data`` and return its key; written to a temporary name, then renamed."""
        key = f"{group}/{secrets.token_hex(12)}"
        path = self._path(key)
        tmp = path.with_suffix(".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ServiceUnavailable(f"cannot write to the blob store: {exc.strerror}") from exc
        return key

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise OutputNotFound(f"blob {key!r} is missing from the blob store") from exc

    def size(self, key: str) -> int:
        """How many bytes blob ``key`` holds, without reading it."""
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError as exc:
            raise OutputNotFound(f"blob {key!r} is missing from the blob store") from exc

    def delete_group(self, group: str) -> None:
        shutil.rmtree(self._path(group), ignore_errors=True)

    def _path(self, key: str) -> Path:
        if _KEY.fullmatch(key) is None:
            raise OutputNotFound(f"blob key {key!r} is outside the blob store")
        return self._root / key
