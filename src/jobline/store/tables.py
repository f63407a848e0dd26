"""The schema, as SQLAlchemy Core tables; the Alembic history in ``migrations/`` builds it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always handed back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC datetimes")
        value = value.astimezone(UTC)
        # SQLite keeps the text without an offset; its lexical order is then the time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return utc(value)


def utc(value: datetime | str | None) -> datetime | None:
    """A stored time as :class:`UTCDateTime` hands it back, from the value the database
    driver gave (SQLite's driver gives the text it keeps, without an offset)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")

# Job columns that are sort keys of the history hold these instead of NULL ("no key", "not
# yet"), so one plain (column, id) index serves both directions and keyset comparisons never
# meet NULL on either database. Only store/jobs.py reads them, and maps them back to None.
NEVER = datetime(9999, 12, 31, tzinfo=UTC)  # finished_at of a job that has not finished
NO_KEY = ""  # key_prefix of a job not submitted with an access key
NOT_YET = -1.0  # queue_seconds / elapsed_seconds not known yet
# SQLite only makes INTEGER PRIMARY KEY columns auto-incrementing aliases of the rowid.
Serial = BigInteger().with_variant(Integer(), "sqlite")

# The columns the history sorts by (besides the serial, the primary key, and the identifier,
# which its unique constraint indexes), and the columns of the two visibility scopes.
SORT_KEYS = (
    "submitted_at",
    "status",
    "name",
    "username",
    "key_prefix",
    "model_identifier",
    "created_at",
    "updated_at",
    "finished_at",
    "total",
    "succeeded",
    "failed",
    "elapsed_seconds",
    "queue_seconds",
    "cpu_seconds",
)
SCOPE_COLUMNS = ("user_id", "account_id")
# What stats read of a job besides its user and submission time: the group values and the
# measures (store/stats.py).
STATS_COLUMNS = (
    "account_id",
    "status",
    "model_identifier",
    "username",
    "key_prefix",
    "total",
    "succeeded",
    "failed",
    "canceled",
    "timed_out",
    "cpu_seconds",
    "queue_seconds",
    "elapsed_seconds",
)


def sort_index_name(column: str) -> str:
    """The name of the index that walks the jobs in ``column`` order."""
    return f"ix_jobs_{column}_id_{'_'.join(SCOPE_COLUMNS)}"


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)


def _now() -> datetime:
    return datetime.now(UTC)


def _created() -> Column[Any]:
    return Column("created_at", UTCDateTime, nullable=False, default=_now)


accounts = Table(
    "accounts",
    metadata,
    Column("id", Serial, primary_key=True),
    Column("identifier", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    _created(),
)

users = Table(
    "users",
    metadata,
    Column("id", Serial, primary_key=True),
    Column("identifier", String(36), nullable=False, unique=True),
    Column("external_identifier", String(200), nullable=False, default=""),
    Column("username", String(100), nullable=False, unique=True),
    Column("first_name", String(100), nullable=False, default=""),
    Column("last_name", String(100), nullable=False, default=""),
    Column("email", String(320), nullable=False, unique=True),
    Column("title", String(200), nullable=False, default=""),
    Column("status", String(16), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(200)),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    _created(),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("id", Serial, primary_key=True),
    Column("prefix", String(20), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("description", String(200), nullable=False, default=""),
    _created(),
    Column("revoked_at", UTCDateTime),
)

models = Table(
    "models",
    metadata,
    Column("id", Serial, primary_key=True),
    Column("identifier", String(100), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    _created(),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Serial, primary_key=True),
    Column("model_id", ForeignKey("models.id"), nullable=False),
    Column("version", String(50), nullable=False),
    Column("inputs", JSONType, nullable=False),
    Column("outputs", JSONType, nullable=False),
    Column("timeout_seconds", Float, nullable=False),
    Column("entry_point", String(300), nullable=False),
    _created(),
    UniqueConstraint("model_id", "version"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Serial, primary_key=True),  # the job serial (JESS job_SN)
    Column("identifier", String(36), nullable=False, unique=True),
    Column("name", String(200), nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("account_id", ForeignKey("accounts.id"), nullable=False),
    Column("user_id", ForeignKey("users.id"), nullable=False),
    # Usernames never change, so the sort by user needs no join.
    Column("username", String(100), nullable=False),
    Column("key_prefix", String(20), nullable=False, default=NO_KEY),
    Column("model_id", ForeignKey("models.id"), nullable=False),
    Column("model_identifier", String(100), nullable=False),
    Column("model_version", String(50), nullable=False),
    Column("explain", Boolean, nullable=False, default=False),
    Column("timeout_seconds", Float),  # per input, overriding the model version's
    Column("deadline_at", UTCDateTime),  # the whole job's timeout, when it has one
    Column("args", JSONType, nullable=False),
    Column("labels", JSONType, nullable=False),
    Column("status", String(16), nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("total", Integer, nullable=False, default=0),
    Column("queued", Integer, nullable=False, default=0),
    Column("running", Integer, nullable=False, default=0),
    Column("succeeded", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("canceled", Integer, nullable=False, default=0),
    Column("timed_out", Integer, nullable=False, default=0),
    _created(),
    # Set at creation and again when an OPEN job is closed: every job has one, so the
    # default history order needs no NULL handling.
    Column("submitted_at", UTCDateTime, nullable=False, default=_now),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime, nullable=False, default=NEVER),
    Column("updated_at", UTCDateTime, nullable=False, default=_now),
    Column("queue_seconds", Float, nullable=False, default=NOT_YET),
    Column("elapsed_seconds", Float, nullable=False, default=NOT_YET),
    Column("cpu_seconds", Float, nullable=False, default=0.0),
    # "" when the model does not collect; "pending" until its collect step ran; then "done"
    # or "failed". A collecting job stays IN_PROGRESS until the step has run.
    Column("collect_state", String(16), nullable=False, default=""),
    Column("submission_bytes", BigInteger, nullable=False, default=0),
    Column("result_bytes", BigInteger, nullable=False, default=0),
    # The history's narrowing indexes: one user, one account, one key, one model, each in
    # submission order with the serial as tie-breaker. On PostgreSQL the user's one also
    # carries what stats group and sum (STATS_COLUMNS): a user's stats over a window are an
    # index-only scan, not a read of every matching row.
    Index(
        "ix_jobs_user_id_submitted_at_id",
        "user_id",
        "submitted_at",
        "id",
        postgresql_include=STATS_COLUMNS,
    ),
    Index("ix_jobs_account_id_submitted_at_id", "account_id", "submitted_at", "id"),
    Index("ix_jobs_key_prefix_submitted_at_id", "key_prefix", "submitted_at", "id"),
    Index("ix_jobs_model_id_submitted_at_id", "model_id", "submitted_at", "id"),
    # Jobs past their deadline are found among the pending ones that have a deadline.
    Index(
        "ix_jobs_deadline",
        "deadline_at",
        sqlite_where=text("status IN ('SUBMITTED', 'IN_PROGRESS')"),
        postgresql_where=text("status IN ('SUBMITTED', 'IN_PROGRESS')"),
    ),
    # The claim's fair pick walks the users who have queued work through this one.
    Index(
        "ix_jobs_waiting",
        "user_id",
        "id",
        sqlite_where=text("queued > 0 AND status IN ('SUBMITTED', 'IN_PROGRESS')"),
        postgresql_where=text("queued > 0 AND status IN ('SUBMITTED', 'IN_PROGRESS')"),
    ),
    # One index per sort key, with the serial as tie-breaker, so a page in any order is an
    # index walk, never a sort of the whole table. The scope columns ride along at the end:
    # a member's or an account's page in that order walks the index and skips other people's
    # entries in the index itself, without reading their rows (store/plans.py says when).
    *(Index(sort_index_name(column), column, "id", *SCOPE_COLUMNS) for column in SORT_KEYS),
)

inputs = Table(
    "inputs",
    metadata,
    Column("id", Serial, primary_key=True),
    Column("job_id", ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("source", String(200), nullable=False),
    Column("position", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("model_identifier", String(100), nullable=False),
    Column("parts", JSONType, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("queued_at", UTCDateTime, nullable=False, default=_now),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("lease_owner", String(200)),
    Column("lease_expires_at", UTCDateTime),
    Column("cpu_seconds", Float, nullable=False, default=0.0),
    Column("peak_memory_kib", BigInteger, nullable=False, default=0),
    Column("outputs", JSONType, nullable=False),
    Column("files", JSONType, nullable=False),
    Column("error", Text, nullable=False, default=""),
    UniqueConstraint("job_id", "source"),
    # Expired leases are found among the leased inputs only.
    Index(
        "ix_inputs_leased",
        "lease_expires_at",
        sqlite_where=text("lease_owner IS NOT NULL"),
        postgresql_where=text("lease_owner IS NOT NULL"),
    ),
    # The claim takes a job's queued inputs that no worker holds yet, oldest first.
    Index(
        "ix_inputs_queued",
        "job_id",
        "id",
        sqlite_where=text("status = 'QUEUED' AND lease_owner IS NULL"),
        postgresql_where=text("status = 'QUEUED' AND lease_owner IS NULL"),
    ),
)

events = Table(
    "events",
    metadata,
    Column("id", Serial, primary_key=True),
    Column("job_id", ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("at", UTCDateTime, nullable=False, default=_now),
    Column("actor", String(200), nullable=False),
    Column("from_status", String(16)),
    Column("to_status", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Index("ix_events_job_id_id", "job_id", "id"),
)

# What a model's collect step made of a job's results (kept apart from ``jobs``, so history
# rows never carry result bodies).
job_results = Table(
    "job_results",
    metadata,
    Column("job_id", ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("outputs", JSONType, nullable=False),
    Column("files", JSONType, nullable=False),
    Column("error", Text, nullable=False, default=""),
    _created(),
)

# The worker registry: every worker (embedded or remote) upserts its row with each heartbeat.
# Rows of workers not heard from for a long time are deleted when a new worker registers.
workers = Table(
    "workers",
    metadata,
    Column("id", Serial, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),  # the leases' owner name
    Column("host", String(255), nullable=False, default=""),
    Column("pid", Integer, nullable=False, default=0),
    Column("models", JSONType),  # a list of model identifiers; null: every model
    Column("slots", Integer, nullable=False, default=0),
    Column("busy", Integer, nullable=False, default=0),
    Column("key_prefix", String(20), nullable=False, default=NO_KEY),
    Column("started_at", UTCDateTime, nullable=False),
    Column("last_heartbeat", UTCDateTime, nullable=False),
)

# Sessions ended before their token expired (a logout): checked on every session request.
# A row can go once its token has expired anyway.
revoked_sessions = Table(
    "revoked_sessions",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)
