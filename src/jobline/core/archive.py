"""Zip archives in and out: unpacking an upload safely, packing a folder of files.

An upload is unpacked in memory, never onto disk by its own names, and refused whole when an
entry would leave the folder it unpacks into (an absolute path, a drive, ``..``: "zip slip"),
is a link, or when the archive holds more files or more bytes than allowed (a "zip bomb": the
bytes are counted as they inflate, not taken from the sizes the archive declares).
"""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import IO

from jobline.errors import InvalidInputs, PayloadTooLarge

MAX_FILES = 1000
_READ_CHUNK_BYTES = 1024 * 1024
_IGNORED_FOLDERS = ("__MACOSX/",)  # what macOS adds to every zip it makes


def unpack(
    data: bytes, *, max_bytes: int, max_files: int = MAX_FILES, param: str = "file"
) -> dict[str, bytes]:
    """The files of a zip archive by relative path (``/``-separated), checked as above."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise InvalidInputs(f"{param}: not a valid zip archive ({exc})", param=param) from exc
    files: dict[str, bytes] = {}
    total = 0
    with archive:
        for entry in archive.infolist():
            if entry.is_dir() or entry.filename.startswith(_IGNORED_FOLDERS):
                continue
            path = safe_path(entry.filename, param)
            if stat.S_ISLNK(entry.external_attr >> 16):
                raise InvalidInputs(
                    f"{param}: zip entry {entry.filename!r} is a symbolic link; only plain "
                    "files are accepted",
                    param=param,
                )
            if len(files) >= max_files:
                raise PayloadTooLarge(
                    f"{param}: the zip archive holds more than {max_files} files",
                    param=param,
                    limit=max_files,
                )
            content = _inflate(archive, entry, max_bytes - total, max_bytes, param)
            total += len(content)
            files[path] = content
    return files


def _inflate(
    archive: zipfile.ZipFile, entry: zipfile.ZipInfo, room: int, max_bytes: int, param: str
) -> bytes:
    too_large = PayloadTooLarge(
        f"{param}: the zip archive unpacks to more than the limit of {max_bytes} bytes",
        param=param,
        limit=max_bytes,
    )
    if entry.file_size > room:
        raise too_large
    chunks: list[bytes] = []
    read = 0
    try:
        with archive.open(entry) as stream:
            while chunk := stream.read(_READ_CHUNK_BYTES):
                read += len(chunk)
                if read > room:
                    raise too_large
                chunks.append(chunk)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError) as exc:
        raise InvalidInputs(
            f"{param}: zip entry {entry.filename!r} cannot be read ({exc}); encrypted and "
            "damaged entries are not accepted",
            param=param,
        ) from exc
    return b"".join(chunks)


def safe_path(name: str, param: str = "path") -> str:
    """``name`` as a relative ``/``-separated path that stays inside its folder.

    >>> safe_path("model/in.idf")
    'model/in.idf'
    """
    cleaned = name.replace("\\", "/")
    parts = PurePosixPath(cleaned).parts
    if (
        not parts
        or cleaned.startswith("/")
        or ":" in parts[0]
        or any(part in ("..", ".") for part in cleaned.split("/"))
        or "\x00" in cleaned
    ):
        raise InvalidInputs(
            f"{param}: {name!r} is not a relative path inside the folder (no '..', no absolute "
            "path or drive)",
            param=param,
            value=name,
        )
    return "/".join(parts)


def pack(files: Iterable[tuple[str, datetime, bytes]], out: IO[bytes]) -> None:
    """Write ``(path, modified, content)`` files as a zip archive to ``out``."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, modified, content in files:
            moment = max(modified.astimezone(UTC), datetime(1980, 1, 1, tzinfo=UTC))
            entry = zipfile.ZipInfo(path, date_time=moment.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, content)
