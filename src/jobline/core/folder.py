"""A job's result folder: everything it took in and gave back, laid out as one tree of files.

What the JESS dialect lists and zips (and any front-end may offer as one download):

- a job of one input: that input's files at the top, beside ``in.<input name>`` for each part
  it was given (an EnergyPlus job: ``in.idf``, ``in.epw``, ``eplusout.err``, ...), each JSON
  output as ``<output name>`` (``results.json``), and ``error.txt`` when it failed;
- a job of several inputs: the same, one folder per input named by its source, without the
  part of the source all of them share (a split job's months: ``01/`` to ``12/``);
- what the model collected (``collected.csv``) at the top, with its JSON as ``collected.json``.

Names come from the callers' sources, so each path segment is made safe for every file system
(no ``..``, no drive, no backslash): an archive of this folder unpacks only inside its folder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from jobline.core import jobs
from jobline.domain.records import Input, Job, JobResult, Principal
from jobline.errors import InvalidRequest, OutputNotFound
from jobline.store import Store

_UNSAFE_SEGMENT = re.compile(r'[\\:*?"<>|\x00-\x1f]')


@dataclass(frozen=True, slots=True)
class FolderFile:
    """One file of a result folder: stored as a blob, or (JSON outputs, errors) as text."""

    path: str  # relative, "/"-separated
    size: int
    modified: datetime
    blob_key: str | None = None
    content: bytes | None = None


def result_folder(
    store: Store, principal: Principal, ref: str | int
) -> tuple[Job, list[FolderFile]]:
    """A job the caller may see and the files of its result folder, sorted by path."""
    job, items = jobs.results(store, principal, ref)
    collected = jobs.collected(store, principal, job.id)
    files: dict[str, FolderFile] = {}
    folders = _folders(items)
    for item in items:
        for found in _input_files(store, item, folders[item.id], job):
            _add(files, found)
    if collected is not None:
        for found in _collected_files(collected, job):
            _add(files, found)
    return job, sorted(files.values(), key=lambda f: f.path)


def read(store: Store, found: FolderFile) -> bytes:
    """The bytes of one file of a result folder."""
    if found.content is not None:
        return found.content
    assert found.blob_key is not None
    return store.blobs.get(found.blob_key)


def find(files: list[FolderFile], path: str) -> FolderFile:
    """The file at ``path``; InvalidRequest for a path leaving the folder, else OutputNotFound."""
    cleaned = path.replace("\\", "/").strip("/")
    if any(part in ("..", ".") for part in cleaned.split("/")) or ":" in cleaned.split("/")[0]:
        raise InvalidRequest(
            f"path {path!r} leaves the job's folder; give a path inside it, such as "
            f"{files[0].path if files else 'eplusout.err'!r}",
            param="path",
            value=path,
        )
    for found in files:
        if found.path == cleaned:
            return found
    raise OutputNotFound(f"the job's folder has no file {path!r}", param="path", value=path)


def each_file(store: Store, files: list[FolderFile]) -> Iterator[tuple[str, datetime, bytes]]:
    """``(path, modified, content)`` of each file, read one at a time (for an archive)."""
    for found in files:
        yield found.path, found.modified, read(store, found)


def _folders(items: list[Input]) -> dict[int, str]:
    """Each input's folder: none for a job of one input, else its source without the leading
    segments every source shares."""
    if len(items) <= 1:
        return {item.id: "" for item in items}
    split = {item.id: [_safe(s) for s in item.source.split("/") if s] or ["_"] for item in items}
    shared = 0
    first = next(iter(split.values()))
    while all(
        len(parts) > shared + 1 and parts[shared] == first[shared] for parts in split.values()
    ):
        shared += 1
    return {identifier: "/".join(parts[shared:]) + "/" for identifier, parts in split.items()}


def _input_files(store: Store, item: Input, folder: str, job: Job) -> Iterator[FolderFile]:
    done = item.finished_at or job.updated_at
    for name, key in sorted(item.parts.items()):
        path = f"{folder}in.{_safe(name)}"
        yield FolderFile(path, store.blobs.size(key), item.queued_at, blob_key=key)
    for name, value in sorted(item.outputs.items()):
        yield _text(f"{folder}{_safe(name)}", json.dumps(value, indent=2), done)
    for output in item.files:
        yield FolderFile(
            f"{folder}{_path(output.name)}", output.size, done, blob_key=output.blob_key
        )
    if item.error:
        yield _text(f"{folder}error.txt", item.error + "\n", done)


def _collected_files(result: JobResult, job: Job) -> Iterator[FolderFile]:
    done = job.finished_at or job.updated_at
    if result.outputs:
        yield _text("collected.json", json.dumps(result.outputs, indent=2), done)
    for output in result.files:
        yield FolderFile(_path(output.name), output.size, done, blob_key=output.blob_key)
    if result.error:
        yield _text("collect-error.txt", result.error + "\n", done)


def _text(path: str, text: str, modified: datetime) -> FolderFile:
    content = text.encode()
    return FolderFile(path, len(content), modified, content=content)


def _add(files: dict[str, FolderFile], found: FolderFile) -> None:
    path, number = found.path, 1
    while path in files:  # two sources made safe to the same name
        number += 1
        path = f"{found.path}~{number}"
    files[path] = FolderFile(path, found.size, found.modified, found.blob_key, found.content)


def _path(name: str) -> str:
    return "/".join(_safe(part) for part in name.replace("\\", "/").split("/") if part) or "_"


def _safe(segment: str) -> str:
    cleaned = _UNSAFE_SEGMENT.sub("_", segment)
    return "_" if cleaned in ("", ".", "..") else cleaned
