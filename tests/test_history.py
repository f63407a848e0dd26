"""The history query on both databases: every filter, sort and page, through the SDK."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from jobline import Client
from jobline.domain.history import SortField
from jobline.domain.records import Role
from jobline.store import Store
from jobline.store.tables import jobs
from tests.conftest import MakeClient, MakeUser


class World:
    """Three users in two accounts with jobs of every outcome, and clients for each role."""

    def __init__(
        self, store: Store, make_user: MakeUser, make_client: MakeClient, drain: Callable[[], int]
    ) -> None:
        ann_user, ann_key = make_user("ann", account="acme")
        self.ann = make_client(ann_key)
        self.ann_prefix = ann_key.split(".")[0]
        self.bob = make_client(make_user("bob", account="acme")[1])
        self.eve = make_client(make_user("eve", account="other")[1])
        self.admin = make_client(make_user("root", role=Role.ADMIN, account="ops")[1])
        self.manager = make_client(make_user("boss", role=Role.MANAGER, account="acme")[1])
        self.done = self.ann.submit("echo", ["a", "b"], name="Alpha report", labels=["nightly"])
        self.failed = self.ann.submit("fail", ["x"], name="beta")
        self.partial = self.bob.submit(
            "sleep", {"ok": {"input": "0"}, "bad": {"input": "zzz"}}, name="partial"
        )
        self.canceled = self.bob.submit("echo", ["c"], name="gamma")
        self.bob.cancel(self.canceled["identifier"])
        drain()
        self.pending = self.eve.submit("sentiment", ["d", "e", "f"], name="Delta")
        self.store = store
        self.ann_user = ann_user

    def ids(self, client: Client, **query: Any) -> list[str]:
        return [job["identifier"] for job in client.history(**query)]


@pytest.fixture
def world(
    store: Store, make_user: MakeUser, make_client: MakeClient, drain: Callable[[], int]
) -> World:
    return World(store, make_user, make_client, drain)


def test_statuses_and_categories(world: World) -> None:
    w, admin = world, world.admin
    assert set(w.ids(admin, status="PENDING")) == {w.pending["identifier"]}
    assert set(w.ids(admin, status="ERROR")) == {w.failed["identifier"]}
    assert set(w.ids(admin, status=["cancelled", "COMPLETED"])) == {
        w.canceled["identifier"],
        w.done["identifier"],
        w.partial["identifier"],
    }
    assert set(w.ids(admin, status="FINISHED")) == set(w.ids(admin, status="completed,error"))
    assert len(w.ids(admin, status="TERMINATED")) == 4


def test_who_filters(world: World) -> None:
    w, admin = world, world.admin
    assert set(w.ids(admin, user="ANN")) == {w.done["identifier"], w.failed["identifier"]}
    assert set(w.ids(admin, user="bob tester")) == set(w.ids(w.bob))  # full name, any case
    assert set(w.ids(admin, user="eve@example")) == {w.pending["identifier"]}
    assert set(w.ids(admin, user_id=w.ann_user.identifier)) == set(w.ids(w.ann))
    assert set(w.ids(admin, access_key=w.ann_prefix)) == set(w.ids(w.ann))
    assert set(w.ids(admin, account="other")) == {w.pending["identifier"]}
    # Visibility is ANDed in: a member naming someone else gets nothing of theirs.
    assert w.ids(w.ann, user="bob") == []
    assert set(w.ids(w.manager)) == set(w.ids(w.ann)) | set(w.ids(w.bob))


def test_what_filters(world: World) -> None:
    w, admin = world, world.admin
    assert set(w.ids(admin, model="SENTI")) == {w.pending["identifier"]}
    assert set(w.ids(admin, model="Sentiment Analysis")) == {w.pending["identifier"]}
    assert set(w.ids(admin, model_version="1.0.0")) == set(w.ids(admin))
    wanted = [w.done["identifier"], str(w.pending["serial"])]
    assert set(w.ids(admin, job_id=wanted)) == {w.done["identifier"], w.pending["identifier"]}
    assert w.ids(admin, name="alpha") == [w.done["identifier"]]
    assert w.ids(admin, label="nightly") == [w.done["identifier"]]
    assert w.ids(admin, search="always fails") == [w.failed["identifier"]]
    assert w.ids(admin, search="delta") == [w.pending["identifier"]]


def test_input_count_conditions(world: World) -> None:
    w, admin = world, world.admin
    assert set(w.ids(admin, count="failed>=1")) == {w.failed["identifier"], w.partial["identifier"]}
    partial = set(w.ids(admin, count=["completed<total", "completed>=1"]))
    assert partial == {w.partial["identifier"]}
    assert w.ids(admin, count="total=3") == [w.pending["identifier"]]


def test_time_window_is_inclusive_and_date_only_end_covers_the_day(world: World) -> None:
    w, admin = world, world.admin
    day = datetime(2024, 5, 1, 23, 59, 59, tzinfo=UTC)
    with w.store.write() as conn:
        conn.execute(
            update(jobs).where(jobs.c.identifier == w.done["identifier"]).values(submitted_at=day)
        )
    assert w.ids(admin, start="2024-05-01", end="2024-05-01") == [w.done["identifier"]]
    assert w.ids(admin, start=day.isoformat(), end=day.isoformat()) == [w.done["identifier"]]
    assert w.ids(admin, end="2024-04-30") == []
    # In Tokyo that instant is already May 2nd.
    assert w.ids(admin, start="2024-05-02", end="2024-05-02", tz="Asia/Tokyo") == [
        w.done["identifier"]
    ]
    ms = int(day.timestamp() * 1000)
    assert w.ids(admin, start=str(ms), end=str(ms)) == [w.done["identifier"]]
    finished = set(w.ids(admin, time_field="finished", start="2000-01-01"))
    assert w.pending["identifier"] not in finished and len(finished) == 4


def test_every_sort_pages_the_same_by_cursor_and_by_offset(world: World) -> None:
    admin = world.admin
    everything = sorted(world.ids(admin))
    for sort in SortField:
        for direction in ("ASC", "DESC"):
            query = {"sort": sort.value, "direction": direction, "per_page": 2}
            by_cursor = world.ids(admin, **query)
            by_offset = [
                job["identifier"]
                for page in (1, 2, 3)
                for job in admin.history_page(**query, page=page)["jobs"]
            ]
            assert by_cursor == by_offset, (sort, direction)
            assert sorted(by_cursor) == everything


def test_sorted_values_are_in_order(world: World) -> None:
    rows = list(world.admin.history(sort="-cpuTime"))
    assert [r["cpu_seconds"] for r in rows] == sorted(
        (r["cpu_seconds"] for r in rows), reverse=True
    )
    rows = list(world.admin.history(sort="finishedAt", direction="ASC"))
    assert rows[-1]["finished_at"] is None  # unfinished jobs come last when ascending
    rows = list(world.admin.history(sort="user", direction="ASC"))
    assert [r["user"] for r in rows] == sorted(r["user"] for r in rows)


def test_cursor_paging_is_stable_while_jobs_arrive(world: World) -> None:
    admin, ann = world.admin, world.ann
    first = admin.history_page(per_page=2)
    for i in range(3):
        ann.submit("echo", [f"new {i}"])
    rest = list(admin.history(per_page=2, cursor=first["next_cursor"]))
    seen = [j["identifier"] for j in first["jobs"]] + [j["identifier"] for j in rest]
    assert len(seen) == len(set(seen)) == 5  # the five jobs that existed; no repeats, no gaps


def test_totals_are_exact_when_cheap_and_labelled(world: World) -> None:
    page = world.ann.history_page(total=True, per_page=1)
    assert (page["total"], page["total_exact"]) == (2, True)
    page = world.admin.history_page(total=True, per_page=1)
    assert page["total"] is not None and page["total_exact"] in (True, False)
    window = {"start": "2000-01-01", "end": (datetime.now(UTC) + timedelta(days=1)).isoformat()}
    page = world.admin.history_page(total=True, **window)
    assert (page["total"], page["total_exact"]) == (5, True)
    assert world.admin.history_page()["total"] is None


def test_the_echo_states_the_effective_query(world: World) -> None:
    query = world.admin.history_page(
        status="pending", count="failed>=1", search="x", start="2024-01-01", tz="Europe/Paris"
    )["query"]
    assert query["statuses"] == ["IN_PROGRESS", "OPEN", "SUBMITTED"]
    assert query["counts"] == ["failed>=1"]
    assert query["search"] == "x"
    assert query["start"] == "2024-01-01T00:00:00+01:00"
    assert query["max_per_page"] == 1000
