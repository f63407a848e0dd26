"""A synthetic job history, fast: what ``jobline dev seed`` and the history benchmark load.

Rows are written straight into the tables, bypassing the core on purpose: a million jobs
through ``core.jobs.submit`` would take hours, a bulk load takes minutes (PostgreSQL ``COPY``,
SQLite ``executemany`` in one transaction). Only what the history reads is made: accounts,
users (one access key each, a manager per account), models with one version that runs the
built-in echo model, and jobs. Seeded jobs have no input rows, events or blobs: the history
never reads them, so a seeded job's results and timeline are empty.

The history spans ``years`` up to now, busier lately, in submission order so that serials grow
with ``submitted_at``. It is skewed the way real ones are: a few users submit most jobs (a
Zipf law), most jobs have one to ten inputs with a tail to a thousand, about 88 % complete,
7 % fail, 3 % are canceled, 1 % time out and 0.5 % are rejected; only jobs of the last day are
still pending. Counters add up, times are ordered (created ≤ submitted ≤ started ≤ finished ≤
now). A given ``seed`` gives the same history, up to the time it ends.
"""

from __future__ import annotations

import hashlib
import random
import string
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Connection, String, func, select, text

from jobline.domain.records import InputSpec, KeyKind, ModelVersion, OutputSpec, Role, UserStatus
from jobline.errors import Conflict, InvalidRequest
from jobline.store import Store, catalog, migrate, synthetic
from jobline.store.synthetic import Person
from jobline.store.tables import access_keys, accounts, jobs, models, users

ECHO_ENTRY_POINT = "jobline.models.builtin:Echo"
SEEDED = "seed-"  # external identifiers of seeded users start with this
SQLITE_LOAD_CACHE_KIB = 256 * 1024  # SQLite's page cache while loading
PG_INDEX_BUILD_MEMORY = "512MB"  # maintenance_work_mem while the indexes are rebuilt

_FIRST = "Ava Ben Chloe Daniel Emma Farid Grace Hiro Isla Jonas Kara Liam Maya Noah Olga Priya "
_FIRST += "Quentin Rosa Sami Tara Umar Vera Wen Ximena Yusuf Zoe Amir Bea Carlos Dina Elif Felix"
_LAST = "Nguyen Smith Garcia Müller Rossi Kowalski Tanaka Okafor Silva Johansson Dubois Novak "
_LAST += "Patel Cohen Haddad Larsen Moreau Ivanova Costa Fischer Brennan Alvarez Kim Osei Laine"
_TITLES = ("Data Scientist", "Research Engineer", "Analyst", "Energy Modeller", "ML Engineer", "")
_ORG_A = "Northwind Bluefin Granite Cedar Summit Harbor Aurora Meridian Polar Copper Delta Willow"
_ORG_B = "Labs Analytics Energy Research Systems Health Robotics Studio Partners Institute"


@dataclass(frozen=True)
class SeedPlan:
    """How big a history to make; raises InvalidRequest naming a parameter that cannot work."""

    jobs: int
    users: int = 1000
    accounts: int = 50
    models: int = 30
    years: float = 5.0
    seed: int = 42

    def __post_init__(self) -> None:
        for name, least in (("jobs", 0), ("accounts", 1), ("models", 1)):
            if getattr(self, name) < least:
                raise InvalidRequest(
                    f"{name} must be at least {least}, got {getattr(self, name)}", param=name
                )
        if self.users < self.accounts:
            raise InvalidRequest(
                f"users must be at least accounts ({self.accounts}): every account gets a "
                f"manager; got {self.users}",
                param="users",
            )
        if not 0 < self.years <= 100:
            raise InvalidRequest(
                f"years must be above 0 and at most 100, got {self.years}", param="years"
            )


@dataclass(frozen=True)
class SeedReport:
    """What a seeding made, and how long it took."""

    accounts: int
    users: int
    models: int
    jobs: int
    seconds: float  # creating users, models and jobs, committed
    analyze_seconds: float  # the statistics afterwards

    @property
    def jobs_per_second(self) -> float:
        return self.jobs / self.seconds if self.seconds else 0.0


Progress = Callable[[int, float], None]  # (jobs written so far, seconds since the first)


def seed(
    store: Store, plan: SeedPlan, progress: Progress | None = None, now: datetime | None = None
) -> SeedReport:
    """Migrate the database, then load the synthetic history ``plan`` describes, ending ``now``.

    Refuses (Conflict) a database that has jobs or seeded users already: serials must grow with
    submission time, which a second history could not keep. Ends with ANALYZE (PostgreSQL:
    VACUUM ANALYZE, the state autovacuum keeps a real table in) so the planner knows the data.
    """
    migrate.upgrade(store.engine)
    rng = random.Random(plan.seed)
    end = (now or datetime.now(UTC)).timestamp()
    start = end - plan.years * 365.25 * 86_400
    began = time.perf_counter()
    with store.write() as conn:
        _refuse_second_history(conn)
        people = _people(conn, plan, rng, start)
        model_rows = _models(conn, plan)
        chunks = synthetic.job_chunks(plan.jobs, people, model_rows, rng, start, end)
        write = _copy if conn.dialect.name == "postgresql" else _insert_many
        with _indexes_rebuilt(conn):
            write(conn, synthetic.columns(), chunks, progress)
    loaded = time.perf_counter()
    _analyze(store)
    return SeedReport(
        plan.accounts,
        plan.users,
        plan.models,
        plan.jobs,
        seconds=loaded - began,
        analyze_seconds=time.perf_counter() - loaded,
    )


def _refuse_second_history(conn: Connection) -> None:
    if conn.execute(select(jobs.c.id).limit(1)).first() is not None:
        count = conn.execute(select(func.count()).select_from(jobs)).scalar_one()
        raise Conflict(
            f"the database has {count} jobs already; seed an empty one (serials must grow "
            "with submission time)",
            param="database_url",
        )
    seeded = select(users.c.id).where(users.c.external_identifier.startswith(SEEDED))
    if conn.execute(seeded.limit(1)).first() is not None:
        raise Conflict("the database was seeded already; seed an empty one", param="database_url")


def _accounts(conn: Connection, count: int, rng: random.Random, since: datetime) -> list[int]:
    """``count`` accounts with company-like names; their ids."""
    orgs = [f"{a} {b}" for a in _ORG_A.split() for b in _ORG_B.split()]
    rng.shuffle(orgs)
    names = [
        orgs[i % len(orgs)] + (f" {i // len(orgs) + 1}" * (i >= len(orgs))) for i in range(count)
    ]
    slugs = [name.lower().replace(" ", "-") for name in names]
    conn.execute(
        accounts.insert(),
        [
            {"identifier": s, "name": n, "created_at": since}
            for s, n in zip(slugs, names, strict=True)
        ],
    )
    found = select(accounts.c.identifier, accounts.c.id).where(accounts.c.identifier.in_(slugs))
    ids = {row.identifier: row.id for row in conn.execute(found)}
    return [ids[slug] for slug in slugs]


def _people(conn: Connection, plan: SeedPlan, rng: random.Random, start: float) -> list[Person]:
    """Accounts and users with one access key each, in random order (the first submits most)."""
    since = datetime.fromtimestamp(start, UTC)
    account_ids = _accounts(conn, plan.accounts, rng, since)
    domains = {row.id: row.identifier for row in conn.execute(select(accounts))}
    first_names, last_names = _FIRST.split(), _LAST.split()
    taken: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    for i in range(plan.users):
        # The first user of each account is its manager; the others join accounts at random.
        account_id = account_ids[i] if i < plan.accounts else rng.choice(account_ids)
        first, last = rng.choice(first_names), rng.choice(last_names)
        base = f"{first}.{last}".lower().replace("ü", "u")
        taken[base] = taken.get(base, 0) + 1
        username = base if taken[base] == 1 else f"{base}{taken[base]}"
        rows.append(
            {
                "identifier": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "external_identifier": f"{SEEDED}{i}",
                "username": username,
                "first_name": first,
                "last_name": last,
                "email": f"{username}@{domains[account_id]}.example.com",
                "title": rng.choice(_TITLES),
                "status": UserStatus.ACTIVE.value,
                "role": (Role.MANAGER if i < plan.accounts else Role.MEMBER).value,
                "password_hash": None,
                "account_id": account_id,
                "created_at": since - timedelta(days=rng.uniform(0, 60)),
            }
        )
    conn.execute(users.insert(), rows)
    seeded = select(users.c.username, users.c.id).where(
        users.c.external_identifier.startswith(SEEDED)
    )
    user_ids = {row.username: row.id for row in conn.execute(seeded)}
    prefix_type = access_keys.c.prefix.type
    assert isinstance(prefix_type, String) and prefix_type.length
    alphabet = string.ascii_letters + string.digits
    people = [
        Person(
            user_ids[row["username"]],
            row["account_id"],
            row["username"],
            "".join(rng.choices(alphabet, k=prefix_type.length)),
            rng.randrange(plan.models),
        )
        for row in rows
    ]
    conn.execute(
        access_keys.insert(),
        [
            {
                "prefix": person.key_prefix,
                # Nobody will ever use these keys: a hash of random bytes, the secret thrown away.
                "secret_hash": hashlib.sha256(rng.randbytes(32)).hexdigest(),
                "user_id": person.user_id,
                "kind": KeyKind.USER.value,
                "is_default": True,
                "description": "seeded",
                "created_at": since,
            }
            for person in people
        ],
    )
    rng.shuffle(people)  # who is busiest is independent of who manages an account
    return people


def _models(conn: Connection, plan: SeedPlan) -> list[tuple[int, str]]:
    """``plan.models`` models named "Model 01"...; (id, identifier) of each."""
    width = max(2, len(str(plan.models)))
    identifiers = [f"model-{i:0{width}d}" for i in range(1, plan.models + 1)]
    for identifier in identifiers:
        version = ModelVersion(
            model_identifier=identifier,
            version="1.0.0",
            inputs=(InputSpec("input"),),
            outputs=(OutputSpec("results.json"),),
            timeout_seconds=60.0,
            entry_point=ECHO_ENTRY_POINT,
        )
        name = "Model " + identifier.removeprefix("model-")
        catalog.register(conn, name, "A seeded model (runs echo).", version)
    found = conn.execute(
        select(models.c.identifier, models.c.id).where(models.c.identifier.in_(identifiers))
    )
    ids = {row.identifier: row.id for row in found}
    return [(ids[identifier], identifier) for identifier in identifiers]


@contextmanager
def _indexes_rebuilt(conn: Connection) -> Iterator[None]:
    """Drop the jobs table's secondary indexes for the load and build them again after, in the
    same transaction: one sorted build is several times faster than millions of insertions into
    each index. Whatever the migrations defined is rebuilt exactly as the catalog states it."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{PG_INDEX_BUILD_MEMORY}'")
        listed = text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'jobs' AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = 'jobs'::regclass)"
        )
    else:  # indexes behind constraints have no SQL and stay
        listed = text(
            "SELECT name, sql FROM sqlite_master "
            "WHERE type = 'index' AND tbl_name = 'jobs' AND sql IS NOT NULL"
        )
    indexes = conn.execute(listed).all()
    for name, _ in indexes:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    yield
    for _, definition in indexes:
        conn.exec_driver_sql(definition)


def _copy(
    conn: Connection,
    columns: tuple[str, ...],
    chunks: Iterator[list[tuple[Any, ...]]],
    progress: Progress | None,
) -> None:
    """PostgreSQL: one COPY, streamed chunk by chunk, in this transaction."""
    began, done = time.perf_counter(), 0
    driver = conn.connection.driver_connection
    assert driver is not None
    statement = f"COPY jobs ({', '.join(columns)}) FROM STDIN"
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for chunk in chunks:
            for row in chunk:
                copy.write_row(row)
            done += len(chunk)
            if progress is not None:
                progress(done, time.perf_counter() - began)


def _insert_many(
    conn: Connection,
    columns: tuple[str, ...],
    chunks: Iterator[list[tuple[Any, ...]]],
    progress: Progress | None,
) -> None:
    """SQLite: ``executemany`` per chunk, all in this transaction."""
    began, done = time.perf_counter(), 0
    # The column types' own conversions (times to UTC text, ...); JSON values already are the
    # text SQLite keeps.
    processors = []
    for i, name in enumerate(columns):
        column_type = jobs.c[name].type
        convert = column_type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        if convert is not None and not isinstance(column_type, JSON):
            processors.append((i, convert))
    marks = ", ".join("?" * len(columns))
    statement = f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({marks})"
    # The indexes of a big table outgrow the default 2 MB page cache, and every insert then
    # reads its index pages back from disk: three times slower. The server keeps the default.
    cache_size = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
    conn.exec_driver_sql(f"PRAGMA cache_size={-SQLITE_LOAD_CACHE_KIB}")
    try:
        for chunk in chunks:
            rows = []
            for row in chunk:
                values = list(row)
                for i, convert in processors:
                    values[i] = convert(values[i])
                rows.append(tuple(values))
            conn.exec_driver_sql(statement, rows)
            done += len(chunk)
            if progress is not None:
                progress(done, time.perf_counter() - began)
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size={int(cache_size)}")


def _analyze(store: Store) -> None:
    """Fresh planner statistics; PostgreSQL also gets its visibility map (index-only scans)."""
    if store.engine.dialect.name == "postgresql":
        autocommit = store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        with autocommit as conn:
            tables = "jobs, users, accounts, access_keys, models, model_versions"
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {tables}")
        return
    raw = store.engine.raw_connection()  # no transaction around it: checkpoints need none
    try:
        cursor = raw.cursor()
        cursor.execute("ANALYZE")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # readers need not wade through the WAL
        cursor.close()
    finally:
        raw.close()
