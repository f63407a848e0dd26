"""The ``jobline`` command in-process: admin commands on both databases, history formatters.

Client-side commands need a server on a real port; they run end to end in test_acceptance.py.
Here they are covered through what does not need one: the formatters over real job objects
from the API, and the errors a user sees before or instead of a request.
"""

from __future__ import annotations

import csv
import json
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from jobline.cli import app
from jobline.cli.jobs import CSV_COLUMNS, JOB_COLUMNS, Format, format_rows
from jobline.cli.output import local_minute
from jobline.core.auth import authenticate_key, authenticate_password
from jobline.domain.records import KeyKind, Role
from jobline.errors import NotAuthenticated
from jobline.store import Store
from tests.conftest import MakeClient, MakeUser

runner = CliRunner()


@pytest.fixture
def admin(database_url: str, tmp_path: Path) -> Callable[..., Result]:
    """Run a server-side command against the test database."""

    def run(*args: str, stdin: str | None = None) -> Result:
        where = ["--database-url", database_url, "--data-dir", str(tmp_path / "data")]
        return runner.invoke(app, [*args, *where], input=stdin)

    return run


def _ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def _key_in(output: str) -> str:
    marker = "access key (shown once): "
    return output.split(marker, 1)[1].split()[0]


def test_users_add_prompts_for_a_password_and_prints_a_working_key(
    admin: Callable[..., Result], store: Store
) -> None:
    args = ["users", "add", "ann@example.com", "--role", "manager", "--account", "acme"]
    out = _ok(admin(*args, "--first-name", "Ann", stdin="s3cret\ns3cret\n"))
    assert "created user ann (ann@example.com), role manager, account acme" in out
    principal = authenticate_key(store, _key_in(out))
    assert principal.user.username == "ann" and principal.role is Role.MANAGER
    assert authenticate_password(store, "ann@example.com", "s3cret").first_name == "Ann"


def test_users_add_without_password_or_key_and_duplicates(
    admin: Callable[..., Result], store: Store
) -> None:
    out = _ok(admin("users", "add", "bob@example.com", "--no-password", "--no-key"))
    assert "access key" not in out
    with pytest.raises(NotAuthenticated):
        authenticate_password(store, "bob@example.com", "")
    again = admin("users", "add", "bob@example.com", "--no-password")
    assert again.exit_code == 1
    assert again.stderr.startswith("error: a user with username 'bob'")
    both = admin("users", "add", "c@example.com", "--password", "x", "--no-password")
    assert both.exit_code == 2


def test_users_list_and_disable_enable(
    admin: Callable[..., Result], make_user: MakeUser, store: Store
) -> None:
    _, key = make_user("ann", role=Role.MANAGER, account="acme")
    make_user("bob")
    lines = _ok(admin("users", "list")).splitlines()
    assert lines[0].split() == ["USERNAME", "EMAIL", "NAME", "ROLE", "ACCOUNT", "STATUS", "CREATED"]
    assert [line.split()[0] for line in lines[1:]] == ["ann", "bob"]
    assert "manager" in lines[1].split() and "acme" in lines[1].split()

    assert _ok(admin("users", "disable", "ann@example.com")) == "user ann is DISABLED\n"
    with pytest.raises(NotAuthenticated, match="disabled"):
        authenticate_key(store, key)
    listed = json.loads(_ok(admin("users", "list", "--format", "json")))
    assert {u["username"]: u["status"] for u in listed} == {"ann": "DISABLED", "bob": "ACTIVE"}

    _ok(admin("users", "enable", "ann"))
    assert authenticate_key(store, key).user.username == "ann"
    missing = admin("users", "disable", "nobody")
    assert (missing.exit_code, missing.stderr) == (
        1,
        "error: no user with email, username or identifier 'nobody'\n",
    )


def test_keys_create_list_revoke(
    admin: Callable[..., Result], make_user: MakeUser, store: Store
) -> None:
    make_user("ann")
    make_user("bob")
    token = _ok(admin("keys", "create", "ann", "--description", "laptop")).strip()
    assert authenticate_key(store, token).user.username == "ann"
    worker = _ok(admin("keys", "create", "ann", "--worker")).strip()
    assert authenticate_key(store, worker).key_kind is KeyKind.WORKER

    prefix = token.partition(".")[0]
    lines = _ok(admin("keys", "list", "ann")).splitlines()
    headers = ["PREFIX", "USER", "KIND", "DEFAULT", "CREATED", "REVOKED", "DESCRIPTION"]
    assert lines[0].split() == headers
    assert len(lines) == 4  # the fixture's key, the laptop key, the worker key
    assert any(line.startswith(prefix) and line.endswith("laptop") for line in lines)
    assert len(_ok(admin("keys", "list")).splitlines()) == 5  # bob's key too

    assert _ok(admin("keys", "revoke", prefix)) == f"revoked access key {prefix}\n"
    with pytest.raises(NotAuthenticated, match="revoked"):
        authenticate_key(store, token)
    header, *rows = _ok(admin("keys", "list")).splitlines()
    revoked_at = header.index("REVOKED")
    revoked = next(row for row in rows if row.startswith(prefix))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d +laptop", revoked[revoked_at:])
    assert next(row for row in rows if " bob " in row)[revoked_at:] == ""
    again = admin("keys", "revoke", prefix)
    assert (again.exit_code, again.stderr) == (
        1,
        f"error: no live access key has the prefix {prefix!r}\n",
    )


def test_models_list_shows_the_builtin_models(admin: Callable[..., Result]) -> None:
    lines = _ok(admin("models", "list")).splitlines()
    assert lines[0].split() == ["IDENTIFIER", "NAME", "LATEST", "INPUTS"]
    sentiment = next(line for line in lines if line.startswith("sentiment "))
    assert sentiment.split()[-1] == "input"


def test_admin_commands_refuse_an_uninitialised_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = runner.invoke(
        app, ["users", "list", "--database-url", url, "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert result.stderr == (
        "error: database not initialised; run 'jobline db upgrade' or 'jobline serve' first\n"
    )


def test_client_commands_report_an_unreachable_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    result = runner.invoke(app, ["status", "1", "--url", url, "--key", "k"])
    assert (result.exit_code, result.stderr) == (1, f"error: cannot reach jobline at {url}\n")


def test_submit_rejects_malformed_inputs_before_any_request() -> None:
    url = "http://127.0.0.1:9"  # nothing is asked of it: usage errors come first
    for option in (["--input", "no-equals-sign"], ["--input", "src:=x"], ["--file", "a=/nope"]):
        result = runner.invoke(app, ["submit", "echo", *option, "--url", url, "--key", "k"])
        assert result.exit_code == 2, result.output
        assert option[0] in result.stderr


@pytest.fixture
def jobs(
    make_user: MakeUser, make_client: MakeClient, drain: Callable[[], int]
) -> list[dict[str, Any]]:
    """Two finished jobs as the API returns them, newest first."""
    _, key = make_user("ann")
    client = make_client(key)
    client.submit("echo", ["one"], name="first, with a comma", labels=["x", "y"])
    client.submit("echo", ["two", "three"], name="second\nline")
    drain()
    return list(client.history())


def test_table_aligns_fixed_columns(jobs: list[dict[str, Any]]) -> None:
    header, *rows = format_rows(jobs, Format.table)
    assert header.split() == list(JOB_COLUMNS)
    assert len(rows) == 2
    status_at = header.index("STATUS")
    submitted_at = header.index("SUBMITTED")
    for row, job in zip(rows, jobs, strict=True):
        assert row.split()[0] == str(job["serial"])
        assert row[header.index("IDENTIFIER") :].startswith(job["identifier"][:8] + " ")
        assert row[submitted_at:] == local_minute(job["submitted_at"])
    # The newest job has two inputs; its name's newline must not break the row.
    assert rows[0][header.index("NAME") :].startswith("second line ")
    assert rows[0][status_at:].split()[:4] == ["COMPLETED", "2", "2", "0"]
    assert rows[1][status_at:].split()[:4] == ["COMPLETED", "1", "1", "0"]


def test_csv_has_a_header_and_flat_fields(jobs: list[dict[str, Any]]) -> None:
    text = "\n".join(format_rows(jobs, Format.csv))
    records = list(csv.DictReader(text.splitlines(keepends=True)))
    assert tuple(records[0]) == CSV_COLUMNS
    second, first = records
    assert first["name"] == "first, with a comma" and first["labels"] == "x,y"
    assert second["name"] == "second\nline"
    assert (second["model"], second["model_version"]) == ("echo", jobs[0]["model"]["version"])
    assert (second["total"], second["succeeded"], second["failed"]) == ("2", "2", "0")
    assert second["status"] == "COMPLETED" and second["serial"] == str(jobs[0]["serial"])
    assert list(format_rows([], Format.csv)) == [",".join(CSV_COLUMNS)]


def test_json_and_ndjson_carry_the_jobs_unchanged(jobs: list[dict[str, Any]]) -> None:
    assert json.loads("\n".join(format_rows(jobs, Format.json))) == jobs
    assert json.loads("\n".join(format_rows([], Format.json))) == []
    assert [json.loads(line) for line in format_rows(jobs, Format.ndjson)] == jobs
