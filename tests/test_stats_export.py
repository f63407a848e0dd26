"""Stats and export over the history, through the SDK over the ASGI app, on both databases.

Every figure is checked against what the history itself lists for the same filter: stats and
export must never disagree with the history a user can page through.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from itertools import zip_longest
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from jobline import Client, errors
from jobline.api.reports import EXPORT_COLUMNS, ndjson_export
from jobline.api.schemas import JobOut
from jobline.cli.reports import STATS_FIGURES, stats_lines
from jobline.core import reports
from jobline.domain.history import parse_history
from jobline.domain.records import Principal, Role
from jobline.domain.stats import GroupBy, bucket_start, parse_stats, percentile
from jobline.store import Store
from jobline.store.tables import jobs
from jobline.store.users import get_user
from tests.asgi import ASGITransport
from tests.conftest import MakeClient, MakeUser

Row = Mapping[str, Any]
KEYS: dict[str, Callable[[Row], Any]] = {
    "status": lambda row: row["status"],
    "model": lambda row: row["model"]["identifier"],
    "user": lambda row: row["user"],
    "access_key": lambda row: row["access_key"],
    "account": lambda row: row["account"],
}


def _percentile_cont(values: list[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont, from its definition, for the expected values."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def _expected(
    rows: Iterable[Row], key: Callable[[Row], tuple[Any, ...]]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    grouped: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for row in rows:
        grouped[key(row)].append(row)
    expected = {}
    for group, members in grouped.items():
        queue = [r["queue_seconds"] for r in members if r["queue_seconds"] is not None]
        elapsed = [r["elapsed_seconds"] for r in members if r["elapsed_seconds"] is not None]
        expected[group] = {
            "jobs": len(members),
            "inputs": sum(r["counts"]["total"] for r in members),
            **{
                kind: sum(r["counts"][kind] for r in members)
                for kind in ("succeeded", "failed", "canceled", "timed_out")
            },
            "cpu_seconds": pytest.approx(sum(r["cpu_seconds"] for r in members)),
            "queue_seconds": {
                "p50": pytest.approx(_percentile_cont(queue, 0.5)),
                "p95": pytest.approx(_percentile_cont(queue, 0.95)),
            },
            "elapsed_seconds": {
                "p50": pytest.approx(_percentile_cont(elapsed, 0.5)),
                "p95": pytest.approx(_percentile_cont(elapsed, 0.95)),
            },
        }
    return expected


def _actual(answer: Mapping[str, Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {
        tuple(group["key"].values()): {k: v for k, v in group.items() if k != "key"}
        for group in answer["groups"]
    }


@pytest.fixture
def keys(make_user: MakeUser) -> dict[str, str]:
    """Access keys of two members and a manager of acme, a member elsewhere, and an admin."""
    return {
        "ann": make_user("ann", account="acme")[1],
        "bob": make_user("bob", account="acme")[1],
        "eve": make_user("eve", account="other")[1],
        "boss": make_user("boss", role=Role.MANAGER, account="acme")[1],
        "root": make_user("root", role=Role.ADMIN, account="ops")[1],
    }


@pytest.fixture
def history(
    keys: dict[str, str], make_client: MakeClient, drain: Callable[[], int]
) -> dict[str, Client]:
    """Ten jobs of several models, users, accounts and ends; a client per user of ``keys``."""
    clients = {name: make_client(key) for name, key in keys.items()}
    ann, bob, eve = clients["ann"], clients["bob"], clients["eve"]
    for i in range(4):
        ann.submit("echo", [f"text {n}" for n in range(i + 1)], name=f"ann echo {i}")
    ann.submit("fail", ["x", "y"], name="ann fail")
    bob.submit("echo", ["a", "b", "c"], name='bob, "quoted"\nname', labels=["x,y", "z"])
    bob.submit("fail", ["z"])
    ann.cancel(ann.submit("echo", ["never", "run"])["identifier"])
    eve.submit("echo", ["e"] * 5)
    drain()
    ann.submit("echo", ["still queued"], name="pending")
    return clients


def test_stats_per_status_model_user_match_the_history(history: dict[str, Client]) -> None:
    root = history["root"]
    rows = list(root.history())
    assert len(rows) == 10
    groups = (["status"], ["model"], ["user"], ["account"], ["access_key"], ["model", "status"])
    for names in groups:
        answer = root.stats(group_by=names)
        assert answer["group_by"] == names
        assert answer["query"]["group_by"] == names
        expected = _expected(rows, lambda row, n=names: tuple(KEYS[name](row) for name in n))
        assert _actual(answer) == expected, names
    by_status = _actual(root.stats(group_by="status"))
    assert by_status[("ERROR",)]["failed"] == 3
    assert by_status[("CANCELED",)]["canceled"] == 2
    # Jobs that never started have no queue time: their percentiles are missing, not zero.
    assert by_status[("CANCELED",)]["queue_seconds"] == {"p50": None, "p95": None}
    assert by_status[("SUBMITTED",)]["elapsed_seconds"] == {"p50": None, "p95": None}
    assert by_status[("COMPLETED",)]["queue_seconds"]["p50"] is not None


def test_stats_without_groups_sum_up_everything_matching_the_filter(
    history: dict[str, Client],
) -> None:
    boss = history["boss"]
    answer = boss.stats(status="TERMINATED", model="echo")
    rows = list(boss.history(status="TERMINATED", model="echo"))
    assert answer["group_by"] == []
    assert _actual(answer) == _expected(rows, lambda _row: ())
    assert answer["query"]["statuses"] == ["CANCELED", "COMPLETED", "ERROR", "REJECTED", "TIMEDOUT"]
    assert answer["query"]["models"] == ["echo"]
    assert "sort" not in answer["query"] and "per_page" not in answer["query"]


@pytest.mark.parametrize("tz", ["UTC", "Pacific/Kiritimati", "America/Adak"])
def test_time_groups_cut_the_time_field_in_the_query_zone(
    history: dict[str, Client], tz: str
) -> None:
    root = history["root"]
    rows = list(root.history())
    zone = ZoneInfo(tz)
    for group in (GroupBy.day, GroupBy.week, GroupBy.month):
        answer = root.stats(group_by=[group.value, "user"], tz=tz)
        assert answer["query"]["tz"] == tz and answer["query"]["time_field"] == "submitted"

        def key(row: Row, group: GroupBy = group) -> tuple[Any, ...]:
            moment = datetime.fromisoformat(row["submitted_at"])
            return (bucket_start(moment, group, zone).isoformat(), row["user"])

        assert _actual(answer) == _expected(rows, key)


def test_time_groups_on_finished_leave_out_unfinished_jobs(history: dict[str, Client]) -> None:
    root = history["root"]
    answer = root.stats(group_by="day", time_field="finished")
    finished = [r for r in root.history() if r["finished_at"] is not None]
    assert len(finished) == 9  # all but the queued one
    days = {datetime.fromisoformat(r["finished_at"]).date().isoformat() for r in finished}
    assert set(_actual(answer)) == {(day,) for day in days}
    assert sum(g["jobs"] for g in answer["groups"]) == 9


def test_stats_cover_only_what_the_caller_may_see(history: dict[str, Client]) -> None:
    seen = {"ann": {"ann"}, "boss": {"ann", "bob"}, "root": {"ann", "bob", "eve"}}
    for name, users in seen.items():
        client = history[name]
        answer = client.stats(group_by="user")
        assert {g["key"]["user"] for g in answer["groups"]} == users
        assert _actual(answer) == _expected(client.history(), lambda row: (row["user"],))
    # A member cannot widen its view by asking for another user or account.
    assert history["ann"].stats(user="bob", group_by="user")["groups"] == []
    assert history["boss"].stats(account="other")["groups"][0]["jobs"] == 0


def test_unknown_group_and_listing_parameters_are_refused(
    history: dict[str, Client], keys: dict[str, str], app: FastAPI
) -> None:
    client = history["ann"]
    with pytest.raises(errors.InvalidQuery) as caught:
        client.stats(group_by=["model", "colour"])
    assert caught.value.details["param"] == "group_by"
    assert "colour" in caught.value.message
    assert "status, model, user, access_key, account, day, week, month" in caught.value.message
    with pytest.raises(errors.InvalidQuery):
        client.stats(group_by="day", tz="Mars/Olympus")
    with pytest.raises(errors.InvalidRequest, match="per_page"):
        client.stats(per_page=10)
    auth = {"Authorization": f"Bearer {keys['ann']}"}
    with httpx.Client(base_url="http://testserver", transport=ASGITransport(app)) as http:
        response = http.get("/v1/jobs/stats?group_by=weekday", headers=auth)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_query"
        assert http.get("/v1/jobs/stats").status_code == 401


def test_ndjson_export_is_the_history(history: dict[str, Client]) -> None:
    for name in ("ann", "boss", "root"):
        client = history[name]
        assert list(client.export()) == list(client.history())
    boss = history["boss"]
    filters: dict[str, Any] = {"status": "COMPLETED", "sort": "serial", "direction": "ASC"}
    exported = list(boss.export("ndjson", **filters))
    assert exported == list(boss.history(**filters))
    assert [r["serial"] for r in exported] == sorted(r["serial"] for r in exported)


def test_csv_export_has_one_record_per_history_job(history: dict[str, Client]) -> None:
    root = history["root"]
    records = list(root.export("csv"))
    parsed = list(csv.reader(records))
    assert tuple(parsed[0]) == EXPORT_COLUMNS
    rows = list(root.history())
    assert len(parsed) == len(rows) + 1
    for cells, job in zip(parsed[1:], rows, strict=True):
        flat = {**job, **job["counts"], "model": job["model"]["identifier"]}
        flat.update(model_version=job["model"]["version"], labels=",".join(job["labels"]))
        expected = ["" if flat[c] is None else str(flat[c]) for c in EXPORT_COLUMNS]
        assert cells == expected
    # A name with a comma, quotes and a line break stays one field of one record.
    names = [dict(zip(parsed[0], cells, strict=True))["name"] for cells in parsed[1:]]
    assert 'bob, "quoted"\nname' in names


def test_export_walks_many_pages(
    history: dict[str, Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reports, "EXPORT_PAGE_SIZE", 3)
    root = history["root"]
    for sort in ("submittedAt", "-finishedAt", "elapsedTime", "user"):
        exported = list(root.export(sort=sort))
        assert len(exported) == 10
        assert exported == list(root.history(sort=sort, per_page=4))
    assert len(list(root.export("csv", user="ann"))) == 1 + 7


def test_exports_read_at_once_each_give_their_own_whole_history(
    history: dict[str, Client], store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages of 2: on PostgreSQL the exports' pages wait for the same page writers, in turns.
    monkeypatch.setattr(reports, "EXPORT_PAGE_SIZE", 2)
    with store.read() as conn:
        ann, root = (
            Principal(user=get_user(conn, username=name), key_prefix=None)
            for name in ("ann", "root")
        )
    asked = [(ann, {"sort": "-submittedAt"}), (root, {"sort": "name"}), (root, {"user": "bob"})]
    expected = [
        [
            JobOut.of(job).model_dump_json() + "\n"
            for job in reports.export(store, who, parse_history(q))
        ]
        for who, q in asked
    ]
    streams = [ndjson_export(store, who, parse_history(q)) for who, q in asked]
    taken: list[list[str]] = [[] for _ in asked]
    for lines in zip_longest(*streams):
        for got, line in zip(taken, lines, strict=True):
            if line is not None:
                got.append(line)
    assert taken == expected
    assert [len(lines) for lines in taken] == [7, 10, 2]
    abandoned = ndjson_export(store, root, parse_history({}))
    next(abandoned)
    abandoned.close()  # a consumer that stops early leaves nothing behind for the others
    assert list(ndjson_export(store, ann, parse_history({}))) == expected[0]


def test_export_lines_are_the_history_job_json_byte_for_byte(
    history: dict[str, Client], keys: dict[str, str], app: FastAPI, store: Store
) -> None:
    # Unicode, args, explain and a timeout; and unfinished jobs (no start, end or times).
    history["ann"].submit(
        "echo",
        ["ünï"],
        name="Zoë 東京 \u2028 ✓",
        description="naïve",
        explain=True,
        timeout=30,
        labels=["ça", "x"],
        args={"k": ["v", 1, 2.5, None, True], "é": {"n": "ü"}},
    )
    with store.read() as conn:
        admin = Principal(user=get_user(conn, username="root"), key_prefix=None)
    expected = [
        JobOut.of(job).model_dump_json() for job in reports.export(store, admin, parse_history({}))
    ]
    assert len(expected) == 11
    auth = {"Authorization": f"Bearer {keys['root']}"}
    with httpx.Client(base_url="http://testserver", transport=ASGITransport(app)) as http:
        assert http.get("/v1/jobs/export", headers=auth).text.split("\n")[:-1] == expected
        csv_text = http.get("/v1/jobs/export?format=csv", headers=auth).text
    parsed = csv.DictReader(io.StringIO(csv_text, newline=""))  # U+2028 is not a line end
    record = next(row for row in parsed if row["name"].startswith("Zoë"))
    assert record["labels"] == "ça,x" and record["queue_seconds"] == ""
    assert record["finished_at"] == "" and record["started_at"] == ""
    assert record["created_at"].endswith("Z")


# An integral float above 1e16 that PostgreSQL spells with its exact digits, not the shortest.
INEXACT_DIGITS = 1.862680848654615e16
# Floats as the seconds columns may hold them, around the spellings that differ between
# PostgreSQL (1, 1e-05, 1e+15, 1e-07) and pydantic (1.0, 0.00001, 1000000000000000.0, 1e-7).
EDGE_SECONDS = (
    *(0.0, 3.0, 0.1, 2.5, 1e-05, 1.5e-05, 9.99e-06, 1e-06, 1e-07, 1.23456e-08, 1e-4, 9.999e-05),
    *(123456.789, 0.30000000000000004, 1e14, 99999999999999.9, 1e15, 1.5e15, 1234567890123456.8),
    *(1.7e16, 1e16, 1e22, 5e-324, 1.7976931348623157e308, INEXACT_DIGITS),
)


def test_export_lines_match_the_job_json_on_edge_values(
    make_user: MakeUser,
    make_client: MakeClient,
    drain: Callable[[], int],
    store: Store,
    app: FastAPI,
) -> None:
    _, key = make_user("root", role=Role.ADMIN, account="ops")
    client = make_client(key)
    args = {"k: v, w": ['a": ,b', {"x": [], "y": {}}, '\\ " ,:'], "": {"n": [1, [2, {}]]}, " ": " "}
    name = 'q"uote \\back\ttab \u0001 ctl \u001f \u007f 😀 \u2028'
    for number, _seconds in enumerate(EDGE_SECONDS):
        client.submit("echo", ["x"], name=f"{name} {number}", args=args, labels=["a, b", '"', ""])
    drain()
    whole = datetime(2026, 12, 1, 3, 4, 5, tzinfo=UTC)  # no microseconds
    with store.write() as conn:
        serials = conn.execute(select(jobs.c.id).order_by(jobs.c.id)).scalars().all()
        for serial, seconds in zip(serials, EDGE_SECONDS, strict=True):
            later = whole + timedelta(
                microseconds=serial % 3 * 120_000
            )  # .000000, .120000, .240000
            values = {"cpu_seconds": seconds, "queue_seconds": seconds, "elapsed_seconds": seconds}
            times = {"created_at": whole, "submitted_at": later, "started_at": later}
            values |= times | {
                "finished_at": whole,
                "updated_at": later,
                "timeout_seconds": seconds,
            }
            conn.execute(update(jobs).where(jobs.c.id == serial).values(values))
        admin = Principal(user=get_user(conn, username="root"), key_prefix=None)
    query = parse_history({"sort": "serial", "direction": "ASC"})
    expected = [JobOut.of(job).model_dump_json() for job in reports.export(store, admin, query)]
    assert len(expected) == len(EDGE_SECONDS)
    # PostgreSQL writes these lines itself; SQLite's come from job_object.
    postgres = store.engine.dialect.name == "postgresql"
    assert (reports.export_lines(store, admin, query) is not None) == postgres
    with httpx.Client(base_url="http://testserver", transport=ASGITransport(app)) as http:
        auth = {"Authorization": f"Bearer {key}"}
        lines = http.get("/v1/jobs/export?sort=serial&direction=ASC", headers=auth).text.split(
            "\n"
        )[:-1]
    mismatched = {
        seconds
        for line, want, seconds in zip(lines, expected, EDGE_SECONDS, strict=True)
        if line != want
    }
    # PostgreSQL spells some integral floats >= 1e16 with their exact digits (the same value).
    assert mismatched == ({INEXACT_DIGITS} if postgres else set())
    assert [json.loads(line) for line in lines] == [json.loads(line) for line in expected]
    first = json.loads(lines[0])
    assert first["name"] == f"{name} 0" and first["args"] == args and first["cpu_seconds"] == 0.0
    assert '"created_at":"2026-12-01T03:04:05Z"' in lines[0]
    assert '"cpu_seconds":3.0,' in lines[1] and '"submitted_at":"2026-12-01T03:04:05.' in lines[1]


def test_export_format_and_parameters_are_checked(
    history: dict[str, Client], keys: dict[str, str], app: FastAPI
) -> None:
    client = history["ann"]
    with pytest.raises(errors.InvalidQuery) as caught:
        list(client.export("xlsx"))  # type: ignore[call-overload]
    assert caught.value.details["param"] == "format"
    assert "csv, ndjson" in caught.value.message
    with pytest.raises(errors.InvalidRequest, match="cursor"):
        list(client.export(cursor="abc"))
    with pytest.raises(errors.InvalidQuery, match="sort"):
        list(client.export(sort="colour"))
    auth = {"Authorization": f"Bearer {keys['ann']}"}
    with httpx.Client(base_url="http://testserver", transport=ASGITransport(app)) as http:
        response = http.get("/v1/jobs/export?format=CSV", headers=auth)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        disposition = response.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="jobline-jobs-')
        assert disposition.endswith('.csv"')
        response = http.get("/v1/jobs/export", headers=auth)
        assert response.headers["content-type"].startswith("application/x-ndjson")
        assert response.text.count("\n") == 7
        response = http.get("/v1/jobs/export?format=json", headers=auth)
        assert response.status_code == 400
        assert response.json()["details"]["accepted"] == ["csv", "ndjson"]


def test_an_empty_csv_export_still_has_its_header(
    make_user: MakeUser, make_client: MakeClient
) -> None:
    client = make_client(make_user("ann")[1])
    assert list(client.export("csv")) == [",".join(EXPORT_COLUMNS)]
    assert list(client.export()) == []
    assert client.stats(group_by="model")["groups"] == []
    (everything,) = client.stats()["groups"]
    assert everything["key"] == {} and everything["jobs"] == 0 and everything["cpu_seconds"] == 0
    assert everything["queue_seconds"] == {"p50": None, "p95": None}


def test_parse_stats_reads_group_lists_and_drops_the_listing() -> None:
    query = parse_stats({"group_by": ["Model, status", "model"], "status": "pending"})
    assert query.group_by == (GroupBy.model, GroupBy.status)
    echo = query.echo()
    assert echo["group_by"] == ["model", "status"]
    assert "tz" not in echo and "page" not in echo and "max_per_page" not in echo
    assert parse_stats({}).group_by == ()


def test_periods_follow_the_zone_calendar_across_dst() -> None:
    paris = ZoneInfo("Europe/Paris")
    # 22:30 UTC on the last Sunday of March is already Monday in Paris (summer time, UTC+2).
    moment = datetime(2024, 3, 31, 22, 30, tzinfo=UTC)
    assert bucket_start(moment, GroupBy.day, paris) == date(2024, 4, 1)
    assert bucket_start(moment, GroupBy.week, paris) == date(2024, 4, 1)
    assert bucket_start(moment, GroupBy.month, paris) == date(2024, 4, 1)
    assert bucket_start(moment, GroupBy.week, UTC) == date(2024, 3, 25)
    assert bucket_start(moment - timedelta(hours=1), GroupBy.month, paris) == date(2024, 3, 1)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 20])
def test_interpolated_percentiles_match_the_inclusive_quantiles(count: int) -> None:
    values = [float(v * v % 17) for v in range(count)]
    ordered = sorted(values)
    ranked = dict(enumerate(ordered))
    for fraction in (0.5, 0.95):
        expected = _percentile_cont(values, fraction)
        assert percentile(ranked, count, fraction) == pytest.approx(expected)
    if count >= 2:
        cuts = statistics.quantiles(values, n=20, method="inclusive")
        assert percentile(ranked, count, 0.5) == pytest.approx(cuts[9])
        assert percentile(ranked, count, 0.95) == pytest.approx(cuts[18])


def test_stats_table_shows_each_group_and_missing_times() -> None:
    answer = {
        "group_by": ["model", "access_key"],
        "groups": [
            {
                "key": {"model": "echo", "access_key": None},
                "jobs": 2,
                "inputs": 5,
                "succeeded": 4,
                "failed": 1,
                "canceled": 0,
                "timed_out": 0,
                "cpu_seconds": 0.25,
                "queue_seconds": {"p50": 0.0123, "p95": 1.5},
                "elapsed_seconds": {"p50": None, "p95": None},
            }
        ],
    }
    header, line = stats_lines(answer)
    assert header.split() == ["MODEL", "ACCESS_KEY", *STATS_FIGURES]
    assert line.split() == "echo - 2 5 4 1 0 0 0.250 0.012 1.500 - -".split()
