"""A job's result folder (``core.folder``) as a zip download, for every dialect that offers it."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO

from fastapi.responses import StreamingResponse

from jobline.core import archive, folder
from jobline.store import Store

# A zip up to this size is built in memory; a larger one spills to a temporary file.
IN_MEMORY_ZIP_BYTES = 16 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024


def zip_response(store: Store, files: list[folder.FolderFile], filename: str) -> StreamingResponse:
    """``files`` packed as ``filename``; built before the answer starts, so a missing blob is
    an error answer rather than a broken download."""
    spool = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_ZIP_BYTES)
    try:
        archive.pack(folder.each_file(store, files), spool)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return StreamingResponse(_chunks(spool), media_type="application/zip", headers=headers)


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    with spool:
        while chunk := spool.read(CHUNK_BYTES):
            yield chunk
