"""What passes between the queue and a worker: a claimed input and its outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jobline.domain.status import InputStatus


@dataclass(frozen=True, slots=True)
class Claim:
    """One input a worker holds under a lease until it reports the outcome."""

    input_id: int
    job_id: int
    job_identifier: str
    source: str
    model_identifier: str
    model_version: str
    entry_point: str
    parts: dict[str, str]  # input name -> blob key
    args: dict[str, Any]
    attempt: int
    lease_owner: str
    timeout_seconds: float


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a claimed input ended. ``files`` are output bytes by name, stored by the core."""

    status: InputStatus
    started_at: datetime
    finished_at: datetime
    cpu_seconds: float = 0.0
    outputs: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    error: str = ""
    peak_memory_kib: int = 0  # the child process's peak resident memory
