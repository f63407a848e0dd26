"""jobline's records in JESS's shapes (``shared/reference/jess-api.md`` §3 and §4).

Ids are the job serial (``job_SN``, ``job_ID``); ``id`` in a job record is the JESS account
id, here the jobline account's. Times are epoch milliseconds, 0 before they happen. Statuses
are spelled by ``domain.status.JESS``; ``progress`` is DESIGN §2's seven integers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from jobline.api.jess.wire import millis
from jobline.core.folder import FolderFile
from jobline.domain.records import Job, User, UserStatus
from jobline.domain.status import JESS, JobStatus
from jobline.store.usage import Usage

ENERGYPLUS = "energyplus"
FINISHED = "Job finished. Results collected into tables."


def job_type(job: Job) -> str:
    """``EP_IDF``, ``EP_IDF_SPLIT`` for EnergyPlus; another model's identifier in capitals."""
    if job.model_identifier != ENERGYPLUS:
        return job.model_identifier.upper()
    split = job.args.get("split")
    return "EP_IDF_SPLIT" if split is True or str(split).lower() == "true" else "EP_IDF"


def progress(job: Job) -> str:
    """Total, failed, timed out, canceled, queued, running, succeeded (DESIGN §2)."""
    c = job.counters
    counts = (c.total, c.failed, c.timed_out, c.canceled, c.queued, c.running, c.succeeded)
    return ", ".join(str(n) for n in counts)


def message(job: Job) -> str:
    """What the job's status means, in JESS's words where JESS had them."""
    c = job.counters
    unfinished = c.failed + c.timed_out + c.canceled
    match job.status:
        case JobStatus.OPEN:
            return "Job files are being received."
        case JobStatus.SUBMITTED:
            return "Job preparation done; awaiting execution."
        case JobStatus.IN_PROGRESS:
            return f"Job is running: {c.ended} of {c.total} cases done, {c.running} running."
        case JobStatus.COMPLETED:
            return FINISHED + (f" {unfinished} of {c.total} cases failed." if unfinished else "")
        case JobStatus.ERROR:
            return f"Job finished, but no case succeeded: {job.message}"
        case JobStatus.CANCELED:
            return "Job is cancelled"
        case JobStatus.TIMEDOUT:
            return f"Job is cancelled: it timed out ({job.message})"
        case JobStatus.REJECTED:
            return f"Job is rejected: {job.message}"


def job_record(job: Job, account_id: int) -> dict[str, Any]:
    """One item of ``GET /jobs`` (§4.1)."""
    ended = job.finished_at if job.status.terminal else None
    canceled = ended if JESS[job.status] == "CANCELED" else None
    collected = ended if job.status is JobStatus.COMPLETED else None
    return {
        "job_SN": job.id,
        "id": account_id,
        "username": job.username,
        "job_Name": job.name,
        "job_Desc": job.description,
        "job_Type": job_type(job),
        "job_Subset": "ALL",
        "job_Args": "",
        "njobs": job.counters.total,
        "status": JESS[job.status],
        "message": message(job),
        "progress": progress(job),
        "received": millis(job.created_at),
        "accepted": millis(job.submitted_at),
        "prepared": millis(job.submitted_at),
        "simulated": millis(ended if job.counters.succeeded else None),
        "collected": millis(collected),
        "retrieved": 0,
        "cancelled": millis(canceled),
        "cputime": round(job.cpu_seconds),
        "submissionSize": job.submission_bytes,
        "resultSize": job.result_bytes,
        "storageSize": job.submission_bytes + job.result_bytes,
    }


def status_object(job: Job, *, cancel_flag: bool = False) -> dict[str, Any]:
    """``GET /job/status/<id>`` (§3.9)."""
    return {
        "id": job.id,
        "job_ID": job.id,
        "status": JESS[job.status],
        "status_Info": message(job),
        "progress": progress(job),
        "cancel_Flag": cancel_flag,
        "completion_Time": millis(job.finished_at),
        "last_Update": millis(job.updated_at),
    }


def account_object(user: User, usage: Usage) -> dict[str, Any]:
    """``GET /account`` (§3.3): the jobline user as a JESS account."""
    return {
        "id": user.account_id,
        "username": user.username,
        "email": user.email,
        "firstname": user.first_name,
        "surname": user.last_name,
        "userGroup": user.role.value,
        "permissions": user.role.value,
        "suspended": user.status is UserStatus.DISABLED,
        "registered": millis(user.created_at),
        "last_Access": millis(datetime.now(UTC)),
        "cpuhour": round(usage.cpu_seconds / 3600, 2),
        "overdraft": 0.0,
        "address": "",
        "telephone": "",
    }


def usage_object(user: User, usage: Usage) -> dict[str, Any]:
    """One row of ``GET /usage`` (§3.4): submissions are jobs, ``jobs`` their cases."""
    return {
        "status": user.status.value,
        "username": user.username,
        "latest": millis(usage.latest_submission),
        "submissions": usage.jobs,
        "jobs": usage.inputs,
        "cputime": round(usage.cpu_seconds),
        "upload": usage.submission_bytes,
        "storage": usage.submission_bytes + usage.result_bytes,
    }


def folder_tree(job: Job, files: list[FolderFile]) -> dict[str, Any]:
    """``GET /job/dir/<id>`` (§3.10): the result folder as JSTree nodes."""
    root = _node(f"{job.id} [*]", "/", "root", True, job.updated_at, 0)
    root["state"]["openned"] = True
    folders: dict[str, dict[str, Any]] = {"": root}
    for found in files:
        parent = ""
        *dirs, name = found.path.split("/")
        for folder in dirs:
            path = f"{parent}{folder}/"
            if path not in folders:
                node = _node(folder, "/" + path.rstrip("/"), "folder", True, found.modified, 0)
                folders[parent]["children"].append(node)
                folders[path] = node
            parent = path
        kind = PurePosixPath(name).suffix.lstrip(".").lower() or "file"
        label = f"{name} ({_size(found.size)})"
        node = _node(label, "/" + found.path, kind, False, found.modified, found.size)
        folders[parent]["children"].append(node)
    return root


def _node(
    text: str, full_path: str, kind: str, folder: bool, modified: datetime, size: int
) -> dict[str, Any]:
    stamp = modified.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return {
        "state": {"disabled": False, "openned": False, "selected": False},
        "text": text,
        "data": {
            "fullPath": full_path,
            "folder": folder,
            "lastModified": millis(modified),
            "size": size,
        },
        "type": kind,
        "id": None,
        "a_attr": {"title": f"{full_path} last modified at {stamp}"},
        "li_attr": {},
        "children": [],
    }


def _size(size: int) -> str:
    """Bytes as JESS wrote them: ``"5.42 kB"``."""
    amount = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if amount < 1000 or unit == "GB":
            return f"{amount:.0f} B" if unit == "B" else f"{amount:.2f} {unit}"
        amount /= 1000
    raise AssertionError("unreachable")
