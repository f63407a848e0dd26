"""``jobline retention`` on both databases: real jobs from the SDK, aged by moving their times.

The history every test starts from (``old`` holds the jobs older than 90 days by finish time):

    acme  ann  COMPLETED  2 inputs  finished 200 days ago   old
    acme  ann  ERROR      1 input   finished 100 days ago   old
    acme  ann  COMPLETED  1 input   finished just now
    acme  ann  SUBMITTED  1 input   submitted 300 days ago  pending: never deleted
    beta  bob  COMPLETED  1 input   finished 150 days ago   old
    beta  bob  CANCELED   1 input   finished 120 days ago   old
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner, Result

from jobline.cli import app
from jobline.cli.output import local_minute
from jobline.domain.retention import RetentionRule, parse_duration
from jobline.domain.status import TERMINATED, JobStatus
from jobline.errors import InvalidQuery
from jobline.store import Store
from jobline.store.tables import events, inputs, jobs
from tests.conftest import MakeClient, MakeUser

runner = CliRunner()
FORMS = "90d, 12h, 30m, 2w, 1y"


@dataclass(frozen=True)
class History:
    old: dict[str, str]  # job name -> identifier
    recent: str
    pending: str
    now: datetime

    def age(self, days: int) -> datetime:
        return self.now - timedelta(days=days)


@pytest.fixture
def history(
    store: Store, make_user: MakeUser, make_client: MakeClient, drain: Callable[[], int]
) -> History:
    ann = make_client(make_user("ann", account="acme")[1])
    bob = make_client(make_user("bob", account="beta")[1])
    ids = {
        "a-done": ann.submit("echo", ["one", "two"])["identifier"],
        "a-error": ann.submit("fail", ["x"])["identifier"],
        "recent": ann.submit("echo", ["now"])["identifier"],
        "b-done": bob.submit("echo", ["bob"])["identifier"],
    }
    drain()
    ids["pending"] = ann.submit("echo", ["waiting"])["identifier"]
    ids["b-canceled"] = bob.submit("echo", ["stop"])["identifier"]
    bob.cancel(ids["b-canceled"])
    now = datetime.now(UTC)
    ages = {"a-done": 200, "a-error": 100, "b-done": 150, "b-canceled": 120, "pending": 300}
    with store.write() as conn:
        for name, days in ages.items():
            when = now - timedelta(days=days)
            this = jobs.c.identifier == ids[name]
            conn.execute(
                update(jobs).where(this).values(created_at=when, submitted_at=when, updated_at=when)
            )
            finished = this & jobs.c.status.in_([s.value for s in TERMINATED])
            conn.execute(update(jobs).where(finished).values(finished_at=when))
    old = {name: ids[name] for name in ("a-done", "a-error", "b-done", "b-canceled")}
    return History(old=old, recent=ids["recent"], pending=ids["pending"], now=now)


@pytest.fixture
def retention(database_url: str, tmp_path: Path) -> Callable[..., Result]:
    """Run ``jobline retention`` on the test database; its blob dir is the store fixture's."""

    def run(*args: str) -> Result:
        where = ["--database-url", database_url, "--data-dir", str(tmp_path)]
        return runner.invoke(app, ["retention", *args, *where])

    return run


def _ok(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def _rows(lines: list[str]) -> list[list[str]]:
    """The summary table's rows, split into cells, header first."""
    start = next(i for i, line in enumerate(lines) if line.startswith("ACCOUNT "))
    end = next(i for i, line in enumerate(lines) if line.startswith("TOTAL "))
    return [line.split() for line in lines[start : end + 1]]


def _counts(store: Store, identifiers: list[str]) -> tuple[int, int, int]:
    """How many jobs, inputs and events with these identifiers the database holds."""
    ids = select(jobs.c.id).where(jobs.c.identifier.in_(identifiers))
    with store.read() as conn:
        return (
            conn.execute(select(func.count()).where(jobs.c.id.in_(ids))).scalar_one(),
            conn.execute(select(func.count()).where(inputs.c.job_id.in_(ids))).scalar_one(),
            conn.execute(select(func.count()).where(events.c.job_id.in_(ids))).scalar_one(),
        )


def _bytes(store: Store, identifiers: list[str]) -> int:
    size = func.sum(jobs.c.submission_bytes + jobs.c.result_bytes)
    with store.read() as conn:
        return int(conn.execute(select(size).where(jobs.c.identifier.in_(identifiers))).scalar())


def _blobs(store: Store, identifier: str) -> bool:
    return (store.blobs.root / identifier).is_dir()


def test_dry_run_reports_what_would_go_and_deletes_nothing(
    history: History, store: Store, retention: Callable[..., Result]
) -> None:
    everything = [*history.old.values(), history.recent, history.pending]
    before = _counts(store, everything)
    lines = _ok(retention("--older-than", "90d", "--dry-run"))

    # The command reads the clock after the fixture did: a minute may have turned since.
    cutoffs = {local_minute(when - timedelta(days=90)) for when in (history.now, datetime.now(UTC))}
    assert lines[0] in {
        f"selecting jobs finished before {cutoff} (older than 90d); "
        "statuses: all terminated; accounts: all"
        for cutoff in cutoffs
    }
    old = list(history.old.values())
    assert _rows(lines) == [
        ["ACCOUNT", "STATUS", "JOBS", "INPUTS", "BYTES"],
        ["acme", "COMPLETED", "1", "2", str(_bytes(store, [history.old["a-done"]]))],
        ["acme", "ERROR", "1", "1", str(_bytes(store, [history.old["a-error"]]))],
        ["beta", "CANCELED", "1", "1", str(_bytes(store, [history.old["b-canceled"]]))],
        ["beta", "COMPLETED", "1", "1", str(_bytes(store, [history.old["b-done"]]))],
        ["TOTAL", "4", "5", str(_bytes(store, old))],
    ]
    oldest, newest = local_minute(history.age(200)), local_minute(history.age(100))
    assert lines[-2] == f"oldest finished: {oldest}, newest finished: {newest}"
    assert lines[-1] == "dry run: nothing deleted; --apply deletes these 4 jobs"
    assert _counts(store, everything) == before
    assert all(_blobs(store, identifier) for identifier in everything)


def test_apply_prints_the_summary_then_deletes_jobs_inputs_events_and_blobs(
    history: History, store: Store, retention: Callable[..., Result]
) -> None:
    old = list(history.old.values())
    jobs_, inputs_, events_ = _counts(store, old)
    assert (jobs_, inputs_) == (4, 5) and events_ >= 4
    size = _bytes(store, old)
    kept = [history.recent, history.pending]
    kept_before = _counts(store, kept)

    lines = _ok(retention("--older-than", "90d", "--apply"))
    assert _rows(lines)[-1] == ["TOTAL", "4", "5", str(size)]
    assert lines[-1] == (
        f"deleted 4 jobs, 5 inputs, {events_} events and 4 blob folders in 1 batches"
    )
    assert _counts(store, old) == (0, 0, 0)
    assert not any(_blobs(store, identifier) for identifier in old)
    assert _counts(store, kept) == kept_before
    assert all(_blobs(store, identifier) for identifier in kept)

    again = _ok(retention("--older-than", "90d", "--apply"))
    assert "no jobs match: nothing to delete" in again
    assert again[-1] == "deleted 0 jobs, 0 inputs, 0 events and 0 blob folders in 0 batches"


def test_pending_jobs_are_never_deleted_and_the_output_says_so(
    history: History, store: Store, retention: Callable[..., Result]
) -> None:
    by_submission = ("--older-than", "90d", "--time-field", "submitted", "--apply")
    only_pending = _ok(retention(*by_submission, "--status", "pending"))
    assert only_pending[0].endswith("statuses: none; accounts: all")
    assert only_pending[1] == (
        "note: pending jobs are never deleted; ignoring IN_PROGRESS, OPEN, SUBMITTED from --status"
    )
    assert only_pending[2] == "no jobs match: nothing to delete"
    assert _counts(store, [history.pending])[:2] == (1, 1)

    every = _ok(retention(*by_submission, "--status", "all"))
    assert every[1].startswith("note: pending jobs are never deleted")
    assert every[-1].startswith("deleted 4 jobs, 5 inputs")
    assert _counts(store, [history.pending])[:2] == (1, 1)
    assert _blobs(store, history.pending)
    assert _counts(store, [history.recent])[0] == 1


def test_account_and_status_filters(
    history: History, store: Store, retention: Callable[..., Result]
) -> None:
    canceled = _ok(
        retention("--older-than", "90d", "--account", "beta", "--status", "cancelled", "--dry-run")
    )
    assert canceled[0].endswith("statuses: CANCELED; accounts: beta")
    assert _rows(canceled)[1:] == [
        ["beta", "CANCELED", "1", "1", str(_bytes(store, [history.old["b-canceled"]]))],
        ["TOTAL", "1", "1", str(_bytes(store, [history.old["b-canceled"]]))],
    ]

    # JESS's FINISHED is COMPLETED + ERROR; "--account" may repeat or take commas.
    lines = _ok(
        retention("--older-than", "90d", "--account", "acme", "--status", "FINISHED", "--apply")
    )
    assert [row[:2] for row in _rows(lines)[1:-1]] == [["acme", "COMPLETED"], ["acme", "ERROR"]]
    assert lines[-1].startswith("deleted 2 jobs, 3 inputs")
    assert _counts(store, [history.old["a-done"], history.old["a-error"]]) == (0, 0, 0)
    beta = [history.old["b-done"], history.old["b-canceled"]]
    assert _counts(store, beta)[:2] == (2, 2)

    both = _ok(retention("--older-than", "90d", "--account", "beta,acme", "--dry-run"))
    assert both[0].endswith("accounts: acme, beta")
    assert _rows(both)[-1][:3] == ["TOTAL", "2", "2"]

    unknown = retention("--older-than", "90d", "--account", "nope", "--dry-run")
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("error: Invalid --account 'nope': no such account.")
    bad_status = retention("--older-than", "90d", "--status", "done", "--dry-run")
    assert bad_status.exit_code == 1
    assert bad_status.stderr.startswith("error: Invalid --status 'done': unknown status.")
    assert "TERMINATED" in bad_status.stderr and "CANCELLED" in bad_status.stderr
    assert _counts(store, beta)[:2] == (2, 2)


def test_batches_smaller_than_the_selection(
    history: History, store: Store, retention: Callable[..., Result]
) -> None:
    old = list(history.old.values())
    events_ = _counts(store, old)[2]
    result = retention("--older-than", "90d", "--apply", "--batch", "3")
    lines = _ok(result)
    assert (
        lines[-1] == f"deleted 4 jobs, 5 inputs, {events_} events and 4 blob folders in 2 batches"
    )
    assert result.stderr.splitlines() == [
        "deleted 3 jobs so far (1 batches)",
        "deleted 4 jobs so far (2 batches)",
    ]
    assert _counts(store, old) == (0, 0, 0)
    assert not any(_blobs(store, identifier) for identifier in old)
    assert _counts(store, [history.recent, history.pending])[0] == 2

    zero = retention("--older-than", "90d", "--apply", "--batch", "0")
    assert zero.exit_code == 2 and "--batch" in zero.stderr


@pytest.mark.parametrize(
    "value",
    ["90", "90 days", "d", "1.5d", "-5d", "0d", "1M", "3mo", "90D", "1001y", "999999999y", ""],
)
def test_a_bad_older_than_names_the_flag_and_the_accepted_forms(tmp_path: Path, value: str) -> None:
    # Checked before the database is opened: the URL points nowhere.
    url = f"sqlite:///{tmp_path / 'never-created.db'}"
    result = runner.invoke(
        app, ["retention", "--older-than", value, "--dry-run", "--database-url", url]
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: Invalid --older-than {value!r}: ")
    assert FORMS in result.stderr
    assert not (tmp_path / "never-created.db").exists()


def test_dry_run_and_apply_exclude_each_other_and_one_is_required(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'never-created.db'}"
    for flags in ([], ["--dry-run", "--apply"]):
        result = runner.invoke(
            app, ["retention", "--older-than", "90d", *flags, "--database-url", url]
        )
        assert result.exit_code == 2, result.output
        assert "give exactly one of --dry-run and --apply" in result.stderr
    missing = runner.invoke(app, ["retention", "--dry-run", "--database-url", url])
    assert missing.exit_code == 2 and "--older-than" in missing.stderr
    assert not (tmp_path / "never-created.db").exists()


def test_durations_and_the_rule_they_make() -> None:
    assert [parse_duration(v) for v in ("90d", "12h", "30m", "2w", "1y")] == [
        timedelta(days=90),
        timedelta(hours=12),
        timedelta(minutes=30),
        timedelta(weeks=2),
        timedelta(days=365),
    ]
    rule = RetentionRule.parse("1y", statuses=["error,timedout", "OPEN"], accounts=[" b ", "a,b"])
    assert rule.statuses == {JobStatus.ERROR, JobStatus.TIMEDOUT}
    assert rule.ignored == {JobStatus.OPEN}
    assert rule.accounts == ("a", "b")
    now = datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert rule.cutoff(now) == datetime(2023, 5, 2, 12, tzinfo=UTC)
    with pytest.raises(InvalidQuery, match="--older-than"):
        RetentionRule.parse("ninety days")
