"""The records the store returns and every front-end renders: frozen, plain, stdlib only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from jobline.domain.status import Counters, InputStatus, JobStatus


class Role(StrEnum):
    MEMBER = "member"  # sees and manages its own jobs
    MANAGER = "manager"  # sees every job of its account
    ADMIN = "admin"  # everything, everywhere


class UserStatus(StrEnum):
    ACTIVE = "ACTIVE"
    DISABLED = "DISABLED"


class KeyKind(StrEnum):
    USER = "user"
    WORKER = "worker"  # may only claim and complete work


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    identifier: str
    name: str


@dataclass(frozen=True, slots=True)
class User:
    id: int
    identifier: str  # UUID
    external_identifier: str
    username: str
    first_name: str
    last_name: str
    email: str
    title: str
    status: UserStatus
    role: Role
    account_id: int
    account_identifier: str
    created_at: datetime

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True, slots=True)
class AccessKey:
    id: int
    prefix: str
    user_id: int
    kind: KeyKind
    is_default: bool
    created_at: datetime
    revoked_at: datetime | None
    description: str = ""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the identity every visibility rule is derived from."""

    user: User
    key_prefix: str | None  # None when authenticated by password or session
    key_kind: KeyKind = KeyKind.USER

    @property
    def role(self) -> Role:
        return self.user.role


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One named input a model version accepts."""

    name: str
    media_types: tuple[str, ...] = ("text/plain",)
    max_bytes: int = 1_000_000
    description: str = ""
    required: bool = True


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """One named output a model version produces."""

    name: str
    media_type: str = "application/json"
    description: str = ""


@dataclass(frozen=True, slots=True)
class ModelVersion:
    model_identifier: str
    version: str
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]
    timeout_seconds: float
    entry_point: str  # "package.module:Class" that runs it
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Model:
    id: int
    identifier: str
    name: str
    description: str
    versions: tuple[ModelVersion, ...]

    @property
    def latest(self) -> ModelVersion:
        return self.versions[-1]

    def version(self, version: str | None) -> ModelVersion | None:
        if version is None:
            return self.latest
        return next((v for v in self.versions if v.version == version), None)


@dataclass(frozen=True, slots=True)
class Job:
    id: int  # the serial number (JESS job_SN)
    identifier: str  # UUID
    name: str
    description: str
    model_identifier: str
    model_name: str
    model_version: str
    account_identifier: str
    user_identifier: str
    username: str
    key_prefix: str | None
    explain: bool
    timeout_seconds: float | None
    args: dict[str, Any]
    labels: tuple[str, ...]
    status: JobStatus
    message: str
    counters: Counters
    created_at: datetime
    submitted_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    queue_seconds: float | None  # submitted -> first input started
    elapsed_seconds: float | None  # first input started -> job ended
    cpu_seconds: float
    submission_bytes: int
    result_bytes: int

    @property
    def serial(self) -> int:
        return self.id


class JobRow(NamedTuple):
    """A job as an export reads it: a :class:`Job`'s fields, flat, in one tuple.

    An export builds millions of them, and a frozen dataclass (with its ``Counters``) per job
    was most of its time; the wire only needs the values. ``status`` is the status's value.
    """

    id: int
    identifier: str
    name: str
    description: str
    model_identifier: str
    model_name: str
    model_version: str
    account_identifier: str
    user_identifier: str
    username: str
    timeout_seconds: float | None
    status: str
    message: str
    total: int
    queued: int
    running: int
    succeeded: int
    failed: int
    canceled: int
    timed_out: int
    cpu_seconds: float
    submission_bytes: int
    result_bytes: int
    key_prefix: str | None
    explain: bool
    args: dict[str, Any]
    labels: list[str]
    created_at: datetime
    submitted_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    queue_seconds: float | None
    elapsed_seconds: float | None


@dataclass(frozen=True, slots=True)
class OutputFile:
    name: str
    blob_key: str
    size: int
    media_type: str


@dataclass(frozen=True, slots=True)
class Input:
    id: int
    job_id: int
    source: str  # the caller's key for this input (Modzy "input source", JESS case)
    position: int
    status: InputStatus
    parts: dict[str, str]  # input name -> blob key
    attempts: int
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cpu_seconds: float
    peak_memory_kib: int
    outputs: dict[str, Any]  # small JSON outputs, by name
    files: tuple[OutputFile, ...]
    error: str

    @property
    def elapsed_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True, slots=True)
class JobResult:
    """A job's collected result: what the model's collect step made of its inputs' results."""

    outputs: dict[str, Any]
    files: tuple[OutputFile, ...]
    error: str


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    job_id: int
    at: datetime
    actor: str
    from_status: str | None
    to_status: str
    reason: str


@dataclass(frozen=True, slots=True)
class Page:
    """One page of history and what produced it."""

    jobs: tuple[Job, ...]
    has_more: bool
    next_cursor: str | None
    total: int | None
    total_exact: bool
    echo: dict[str, Any] = field(default_factory=dict)
