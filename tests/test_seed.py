"""The synthetic history seeder: a consistent, skewed history that the real history query reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, text

from jobline.core import jobs as core_jobs
from jobline.domain.history import parse_history
from jobline.domain.records import Principal, Role
from jobline.domain.status import TERMINATED
from jobline.errors import Conflict, InvalidRequest
from jobline.store import Store
from jobline.store import users as user_store
from jobline.store.seed import ECHO_ENTRY_POINT, SEEDED, SeedPlan, seed
from jobline.store.tables import access_keys, jobs, model_versions, models, users

PLAN = SeedPlan(jobs=2000, users=100, accounts=10, models=6, years=5, seed=7)
TERMINAL = ", ".join(f"'{status.value}'" for status in TERMINATED)


@pytest.fixture
def seeded(store: Store) -> Store:
    progress: list[int] = []
    report = seed(store, PLAN, lambda done, _seconds: progress.append(done))
    assert (report.jobs, report.users, report.accounts) == (2000, 100, 10)
    assert progress[-1] == 2000
    return store


def scalar(store: Store, sql: str) -> int:
    with store.read() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def jobs_where(store: Store, condition: str) -> int:
    return scalar(store, f"SELECT count(*) FROM jobs WHERE {condition}")


def test_seed_makes_the_planned_users_keys_models_and_jobs(seeded: Store) -> None:
    with seeded.read() as conn:
        people = conn.execute(
            select(users.c.role, func.count())
            .where(users.c.external_identifier.startswith(SEEDED))
            .group_by(users.c.role)
        ).all()
        keys = conn.execute(
            select(func.count())
            .select_from(access_keys.join(users))
            .where(users.c.external_identifier.startswith(SEEDED))
        ).scalar_one()
        versions = conn.execute(
            select(models.c.name, model_versions.c.entry_point)
            .join(models)
            .where(models.c.identifier.startswith("model-"))
            .order_by(models.c.identifier)
        ).all()
        job_count = conn.execute(select(func.count()).select_from(jobs)).scalar_one()
    assert dict(people) == {Role.MANAGER.value: 10, Role.MEMBER.value: 90}
    assert keys == 100
    assert [v.name for v in versions] == [f"Model 0{i}" for i in range(1, 7)]
    assert {v.entry_point for v in versions} == {ECHO_ENTRY_POINT}
    assert job_count == 2000


def test_counters_add_up_and_agree_with_the_status(seeded: Store) -> None:
    counted = "queued + running + succeeded + failed + canceled + timed_out"
    assert jobs_where(seeded, f"total <> {counted}") == 0
    assert jobs_where(seeded, "total < 1 OR total > 1000") == 0
    assert jobs_where(seeded, f"status IN ({TERMINAL}) AND queued + running > 0") == 0
    assert jobs_where(seeded, "status = 'COMPLETED' AND succeeded = 0") == 0
    assert jobs_where(seeded, "status = 'ERROR' AND failed <> total") == 0


def test_statuses_and_users_are_skewed_like_a_real_history(seeded: Store) -> None:
    completed = jobs_where(seeded, "status = 'COMPLETED'")
    errors = jobs_where(seeded, "status = 'ERROR'")
    assert 0.8 < completed / 2000 < 0.95
    assert 0.03 < errors / 2000 < 0.12
    busiest = scalar(
        seeded, "SELECT max(n) FROM (SELECT count(*) AS n FROM jobs GROUP BY user_id) AS per_user"
    )
    assert busiest > 5 * 2000 / 100  # a Zipf law: the busiest user submits far above the mean
    assert jobs_where(seeded, "total <= 10") > 0.8 * 2000


def test_times_are_ordered_and_serials_follow_submission(seeded: Store) -> None:
    now = datetime.now(UTC)
    with seeded.read() as conn:
        rows = conn.execute(
            select(
                jobs.c.id,
                jobs.c.status,
                jobs.c.created_at,
                jobs.c.submitted_at,
                jobs.c.started_at,
                jobs.c.finished_at,
                jobs.c.elapsed_seconds,
            ).order_by(jobs.c.id)
        ).all()
    submitted = [row.submitted_at for row in rows]
    assert submitted == sorted(submitted)
    assert (now - submitted[0]).days > 4 * 365 and submitted[-1] <= now
    for row in rows:
        assert row.created_at <= row.submitted_at, row.id
        assert row.started_at is None or row.submitted_at <= row.started_at <= now, row.id
        if row.status in {status.value for status in TERMINATED}:
            began = row.started_at or row.submitted_at
            assert began <= row.finished_at <= now, row.id
            elapsed = (row.finished_at - began).total_seconds()
            assert row.elapsed_seconds == pytest.approx(elapsed, abs=1e-3), row.id


def test_a_member_sees_exactly_its_own_seeded_jobs(seeded: Store) -> None:
    with seeded.read() as conn:
        user_id = conn.execute(
            select(jobs.c.user_id)
            .join(users)
            .where(users.c.role == Role.MEMBER.value)
            .group_by(jobs.c.user_id)
            .order_by(func.count().desc(), jobs.c.user_id)
            .limit(1)
        ).scalar_one()
        member = user_store.get_user(conn, user_id=user_id)
        expected = set(conn.execute(select(jobs.c.id).where(jobs.c.user_id == user_id)).scalars())
    principal = Principal(user=member, key_prefix=None)
    seen: list[int] = []
    params = {"per_page": "100"}
    while True:
        page = core_jobs.history(seeded, principal, parse_history(params))
        seen += [job.id for job in page.jobs]
        if page.next_cursor is None:
            break
        params["cursor"] = page.next_cursor
    assert len(expected) > 100  # more than one page
    assert sorted(seen, reverse=True) == seen
    assert set(seen) == expected and len(seen) == len(expected)


def test_the_indexes_dropped_for_the_load_are_all_rebuilt(store: Store) -> None:
    def indexes() -> list[tuple[str, tuple[str, ...]]]:
        found = inspect(store.engine).get_indexes("jobs")
        return sorted(
            (index["name"] or "", tuple(map(str, index["column_names"]))) for index in found
        )

    before = indexes()
    seed(store, SeedPlan(jobs=100, users=10, accounts=2, models=2))
    assert indexes() == before
    assert ("ix_jobs_user_id_submitted_at_id", ("user_id", "submitted_at", "id")) in before


def test_a_seeded_database_is_not_seeded_twice(seeded: Store) -> None:
    with pytest.raises(Conflict, match="has 2000 jobs already"):
        seed(seeded, PLAN)


@pytest.mark.parametrize(
    ("changes", "param"),
    [({"jobs": -1}, "jobs"), ({"users": 5, "accounts": 10}, "users"), ({"years": 0}, "years")],
)
def test_a_plan_that_cannot_work_names_the_parameter(changes: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        SeedPlan(**{"jobs": 10, **changes})
    assert caught.value.details["param"] == param
    assert param in caught.value.message
