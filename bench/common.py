"""What the benchmarks share: a fresh store on SQLite or PostgreSQL, and percentiles."""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from jobline.core import auth
from jobline.core.setup import register_models
from jobline.domain.records import Principal, Role
from jobline.store import Store, migrate

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


@contextmanager
def fresh_store(database: str) -> Iterator[Store]:
    """A migrated, empty store with the built-in models, removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        if database == "sqlite":
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            yield _prepared(url, Path(tmp))
            return
        # One database per benchmark process: others may run theirs on the same server.
        name = f"jobline_bench_{os.getpid()}"
        admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        store = _prepared(f"{PG_SERVER}/{name}", Path(tmp))
        try:
            yield store
        finally:
            store.close()
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()


def _prepared(url: str, tmp: Path) -> Store:
    store = Store.open(url, tmp / "blobs")
    migrate.upgrade(store.engine)
    register_models(store)
    return store


def member(store: Store, name: str = "bench") -> Principal:
    user = auth.add_user(store, email=f"{name}@bench.local", username=name, role=Role.MEMBER)
    return Principal(user=user, key_prefix=None)


def postgres_available() -> bool:
    try:
        engine = create_engine(f"{PG_SERVER}/postgres")
        with engine.connect():
            pass
        engine.dispose()
    except Exception:
        return False
    return True


def percentiles(samples: list[float]) -> str:
    """p50 / p95 / p99 of samples in seconds, printed in milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return "  ".join(f"p{p} {cuts[p - 1] * 1000:7.2f} ms" for p in (50, 95, 99))


def each_database(
    measure: Callable[[str, argparse.Namespace], None], args: argparse.Namespace
) -> None:
    """Run ``measure`` on ``args.url`` when given, else on each database ``args.database`` names."""
    if args.url:
        measure(args.url.partition(":")[0], args)
        return
    for database in ["sqlite", "postgres"] if args.database == "both" else [args.database]:
        if database == "postgres" and not postgres_available():
            print("postgres: unreachable, skipped")
            continue
        measure(database, args)
