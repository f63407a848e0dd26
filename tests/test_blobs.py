"""The blob store keeps every key inside its root."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobline.errors import OutputNotFound
from jobline.store.blobs import BlobStore


def test_a_key_reads_what_was_put_and_never_a_file_outside_the_root(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    (tmp_path / "secret").write_bytes(b"not yours")
    key = blobs.put("2b1f0c9e-0000-4000-8000-000000000000", b"data")
    assert blobs.get(key) == b"data"
    assert blobs.size(key) == 4
    for outside in ("../secret", f"{tmp_path}/secret", "g/../../secret", "g/./x", "", "g/"):
        with pytest.raises(OutputNotFound):
            blobs.get(outside)
