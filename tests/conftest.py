"""Shared fixtures: a migrated database per test, on SQLite and on PostgreSQL.

The schema is migrated once per session into a template; each test gets a fresh copy (SQLite:
a copied file; PostgreSQL: ``CREATE DATABASE ... TEMPLATE``). PostgreSQL tests run when
127.0.0.1:5432 answers, and with ``CI=true`` they fail instead of skipping when it does not.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text

from jobline import Client
from jobline.core import auth
from jobline.core.setup import register_models
from jobline.domain.records import Role, User
from jobline.settings import Settings
from jobline.store import Store, migrate
from jobline.store.blobs import BlobStore
from jobline.store.engine import make_engine
from jobline.worker.loop import Worker
from jobline.worker.source import LocalWorkSource
from tests.asgi import ASGITransport

PG_SERVER = os.environ.get("JOBLINE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
PG_TEMPLATE = f"jobline_template_{os.getpid()}"
_databases = itertools.count()


def _pg_admin_url() -> str:
    return f"{PG_SERVER}/postgres"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    _prepare(engine, tmp_path_factory.mktemp("template-blobs"))
    return path


@pytest.fixture(scope="session")
def pg_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {PG_TEMPLATE}"))
            conn.execute(text(f"CREATE DATABASE {PG_TEMPLATE}"))
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {PG_SERVER} is required in CI and unreachable: {exc}")
        pytest.skip(f"PostgreSQL at {PG_SERVER} is unreachable: {exc}")
    engine = make_engine(f"{PG_SERVER}/{PG_TEMPLATE}")
    _prepare(engine, tmp_path_factory.mktemp("template-blobs"))
    engine.dispose()
    yield PG_TEMPLATE
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_TEMPLATE} WITH (FORCE)"))
    admin.dispose()


def _prepare(engine: object, blob_dir: Path) -> None:
    from sqlalchemy import Engine

    assert isinstance(engine, Engine)
    store = Store(engine, BlobStore(blob_dir))
    migrate.upgrade(engine)
    register_models(store)
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to a migrated database with the built-in models registered, fresh per test."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "jobline.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    template_name: str = request.getfixturevalue("pg_template")
    name = f"jobline_test_{os.getpid()}_{next(_databases)}"
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {template_name}"))
    yield f"{PG_SERVER}/{name}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(database_url, tmp_path / "blobs")
    yield opened
    opened.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=database_url, worker_slots=0)


@pytest.fixture
def app(store: Store, settings: Settings) -> FastAPI:
    from jobline.api.app import create_app

    return create_app(store, settings)


MakeUser = Callable[..., tuple[User, str]]


@pytest.fixture
def make_user(store: Store) -> MakeUser:
    """Create a user with an access key: ``make_user("ann", role=Role.MANAGER, account="x")``."""

    def make(username: str, *, role: Role = Role.MEMBER, account: str = "acme") -> tuple[User, str]:
        user = auth.add_user(
            store,
            email=f"{username}@example.com",
            username=username,
            password="pw-" + username,
            role=role,
            account=account,
            first_name=username.capitalize(),
            last_name="Tester",
        )
        return user, auth.create_key(store, user).token

    return make


MakeClient = Callable[[str], Client]


@pytest.fixture
def make_client(app: FastAPI) -> Iterator[MakeClient]:
    """The SDK talking to the app in-process (no sockets), with the given access key."""
    opened: list[Client] = []

    def make(key: str) -> Client:
        client = Client("http://testserver", key, transport=ASGITransport(app))
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


@pytest.fixture
def drain(store: Store) -> Callable[[], int]:
    """Run every queued input now, in this thread (the worker's burst mode)."""
    return Worker(LocalWorkSource(store), name="test-worker").run_burst
