"""A job's result folder (``core.folder``) and safe zip archives (``core.archive``)."""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from jobline.core import archive, auth, folder, jobs
from jobline.errors import (
    InvalidInputs,
    InvalidRequest,
    JobNotFound,
    OutputNotFound,
    PayloadTooLarge,
)
from jobline.store import Store
from tests.asgi import ASGITransport
from tests.conftest import MakeUser
from tests.test_dashboard import caller


def test_one_input_lies_flat_with_its_parts_outputs_and_error(
    store: Store, make_user: MakeUser, drain: Callable[[], int]
) -> None:
    ann = caller(store, make_user, "ann")
    job = jobs.submit(store, ann, jobs.Submission("fail", {"only": {"input": b"boom"}}))
    drain()
    _, files = folder.result_folder(store, ann, job.id)
    assert [f.path for f in files] == ["error.txt", "in.input"]
    by_path = {f.path: f for f in files}
    assert folder.read(store, by_path["in.input"]) == b"boom"
    assert by_path["in.input"].size == 4
    assert "always fails" in folder.read(store, by_path["error.txt"]).decode()


def test_several_inputs_get_a_folder_each_with_safe_names(
    store: Store, make_user: MakeUser, drain: Callable[[], int]
) -> None:
    ann = caller(store, make_user, "ann")
    inputs = {src: {"input": src.encode()} for src in ("../up", "run/a", "run/b", "C:\\x", ".")}
    job = jobs.submit(store, ann, jobs.Submission("echo", inputs))
    drain()
    _, files = folder.result_folder(store, ann, job.id)
    folders = sorted({f.path.rsplit("/", 1)[0] for f in files})
    assert folders == ["C__x", "_", "_/up", "run/a", "run/b"]
    assert all(".." not in f.path.split("/") and not f.path.startswith("/") for f in files)
    found = folder.find(files, "run/a/results.json")
    assert b'"text": "run/a"' in folder.read(store, found)
    with pytest.raises(InvalidRequest, match="leaves the job's folder"):
        folder.find(files, "run/../../etc/passwd")
    with pytest.raises(OutputNotFound):
        folder.find(files, "run/c/results.json")
    buffer = io.BytesIO()
    archive.pack(folder.each_file(store, files), buffer)
    assert archive.unpack(buffer.getvalue(), max_bytes=10**6) == {
        f.path: folder.read(store, f) for f in files
    }


def test_another_members_folder_is_not_found(
    store: Store, make_user: MakeUser, drain: Callable[[], int]
) -> None:
    ann, bob = caller(store, make_user, "ann"), caller(store, make_user, "bob")
    job = jobs.submit(store, ann, jobs.Submission("echo", {"a": {"input": b"x"}}))
    with pytest.raises(JobNotFound):
        folder.result_folder(store, bob, job.id)
    assert folder.result_folder(store, ann, job.id)[0].id == job.id


def _zip(*entries: zipfile.ZipInfo | tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as made:
        for entry in entries:
            if isinstance(entry, zipfile.ZipInfo):
                made.writestr(entry, b"/etc/passwd")
            else:
                made.writestr(*entry)
    return buffer.getvalue()


def test_unpack_refuses_links_and_skips_what_macos_adds() -> None:
    link = zipfile.ZipInfo("model.idf")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with pytest.raises(InvalidInputs, match="symbolic link"):
        archive.unpack(_zip(link), max_bytes=1000)
    files = archive.unpack(_zip(("__MACOSX/._a.idf", b"junk"), ("a/b.idf", b"x")), max_bytes=10)
    assert files == {"a/b.idf": b"x"}


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/abs", "C:/win", "a\\..\\..\\x", "./x"])
def test_unpack_refuses_entries_outside_the_folder(name: str) -> None:
    with pytest.raises(InvalidInputs, match="inside the folder"):
        archive.unpack(_zip((name, b"x")), max_bytes=1000)


def test_unpack_counts_inflated_bytes_and_files() -> None:
    bomb = _zip(("zeros", b"\0" * 10_000_000))
    assert len(bomb) < 20_000
    with pytest.raises(PayloadTooLarge, match="more than the limit of 1000000 bytes"):
        archive.unpack(bomb, max_bytes=1_000_000)
    many = _zip(*((f"{n}", b"") for n in range(11)))
    with pytest.raises(PayloadTooLarge, match="more than 10 files"):
        archive.unpack(many, max_bytes=1000, max_files=10)


def test_pack_keeps_times_from_1980_on() -> None:
    buffer = io.BytesIO()
    moment = datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    archive.pack(
        [("a/b.txt", moment, b"hi"), ("old", datetime(1970, 1, 1, tzinfo=UTC), b"")], buffer
    )
    with zipfile.ZipFile(buffer) as made:
        assert made.getinfo("a/b.txt").date_time == (2024, 5, 1, 10, 30, 0)
        assert made.getinfo("old").date_time[0] == 1980


def test_the_native_api_serves_the_folder_as_a_zip(
    app: FastAPI, store: Store, make_user: MakeUser, drain: Callable[[], int]
) -> None:
    _, key = make_user("ann")
    _, other = make_user("bob")
    ann = auth.authenticate_key(store, key)
    job = jobs.submit(
        store, ann, jobs.Submission("echo", {"a": {"input": b"x"}, "b": {"input": b"y"}})
    )
    drain()
    with httpx.Client(transport=ASGITransport(app), base_url="http://testserver") as http:
        answer = http.get(
            f"/v1/jobs/{job.id}/folder.zip", headers={"Authorization": f"Bearer {key}"}
        )
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
        assert f'filename="job-{job.id}.zip"' in answer.headers["content-disposition"]
        names = set(archive.unpack(answer.content, max_bytes=10**6))
        assert names == {"a/in.input", "a/results.json", "b/in.input", "b/results.json"}
        hidden = http.get(
            f"/v1/jobs/{job.id}/folder.zip", headers={"Authorization": f"Bearer {other}"}
        )
        assert hidden.status_code == 404
