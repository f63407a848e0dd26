"""Jobs whose inputs arrive after the job: open it, append input parts, close it.

An OPEN job is created with no inputs. Each upload appends bytes to one part of one input
(creating the input, queued and counted, on its first part); chunks of one part arrive as
separate uploads and are joined in order. Nothing of an OPEN job runs: workers only claim
inputs of submitted jobs. Closing checks the inputs against the model, makes the job
SUBMITTED with its submission time reset to the close, and wakes the workers.

    job = open_job(store, caller, "sentiment")
    append_input(store, caller, job.identifier, "doc-1", "input", b"I love ")
    append_input(store, caller, job.identifier, "doc-1", "input", b"it")
    close_job(store, caller, job.identifier)   # doc-1 runs on "I love it"
"""

from __future__ import annotations

from dataclasses import replace

from jobline.core import jobs
from jobline.core.auth import require_user_key
from jobline.domain.records import Job, ModelVersion, Principal
from jobline.domain.status import JobStatus
from jobline.errors import Conflict, InvalidInputs, PayloadTooLarge
from jobline.store import Store
from jobline.store import jobs as job_store
from jobline.store import uploads as upload_store


def open_job(
    store: Store,
    principal: Principal,
    model: str,
    version: str | None = None,
    *,
    explain: bool = False,
    timeout_seconds: float | None = None,
) -> Job:
    """Create an OPEN job with no inputs yet, for ``model`` (its latest version by default)."""
    require_user_key(principal)
    found, chosen = jobs.resolve_model(store, model, version)
    if timeout_seconds is not None and timeout_seconds <= 0:
        raise InvalidInputs("timeout must be a positive number of seconds", param="timeout")
    user = principal.user
    new = job_store.NewJob(
        identifier=job_store.new_identifier(),
        name="",
        description="",
        account_id=user.account_id,
        user_id=user.id,
        username=user.username,
        key_prefix=principal.key_prefix,
        model_id=found.id,
        model_identifier=found.identifier,
        model_name=found.name,
        model_version=chosen.version,
        account_identifier=user.account_identifier,
        user_identifier=user.identifier,
        explain=explain,
        timeout_seconds=timeout_seconds,
        args={},
        labels=(),
        inputs=(),
        status=JobStatus.OPEN,
    )
    with store.write() as conn:
        return job_store.insert_job(conn, new, actor=user.username)


def append_input(
    store: Store,
    principal: Principal,
    ref: str | int,
    source: str,
    name: str,
    data: bytes,
    *,
    max_inputs: int = jobs.MAX_INPUTS_PER_JOB,
) -> Job:
    """Append ``data`` to part ``name`` of input ``source`` of an OPEN job.

    The first upload of a source adds the input (queued, counted in the job's total); later
    ones add parts or extend them. The part must be one the model declares, and stay within
    its size limit. Conflict when the job is no longer OPEN.
    """
    require_user_key(principal)
    job = jobs.get(store, principal, ref)
    if "\x00" in source:  # PostgreSQL cannot store NUL in text
        raise InvalidInputs("an input source must not contain NUL characters", param="input")
    _, version = jobs.resolve_model(store, job.model_identifier, job.model_version)
    with store.write() as conn:
        locked, found = upload_store.lock_for_upload(conn, job.id, source)
        _check_open(locked, "add inputs to")
        existing = found[0] if found else None
        if existing is None and locked.counters.total >= max_inputs:
            raise PayloadTooLarge(
                f"a job takes at most {max_inputs} inputs; job {job.identifier} has them all",
                param="input",
                limit=max_inputs,
            )
        old_key = existing.parts.get(name) if existing else None
        whole = (store.blobs.get(old_key) if old_key else b"") + data
        # Size, name and source checks as for any submission; the other parts may come later.
        jobs.check_inputs(_nothing_required(version), {source: {name: whole}}, max_inputs)
        key = store.blobs.put(job.identifier, whole)
        upload_store.put_input_part(
            conn, locked, source, name, key, existing=existing, added_bytes=len(data)
        )
    return jobs.get(store, principal, job.id)


def close_job(
    store: Store, principal: Principal, ref: str | int, *, max_inputs: int = jobs.MAX_INPUTS_PER_JOB
) -> Job:
    """Submit an OPEN job: its inputs must now be complete, and there must be at least one."""
    require_user_key(principal)
    job = jobs.get(store, principal, ref)
    _, version = jobs.resolve_model(store, job.model_identifier, job.model_version)
    with store.write() as conn:
        locked, items = upload_store.lock_for_upload(conn, job.id)
        _check_open(locked, "close")
        # Only the part names matter here; each part's size was checked as it arrived.
        jobs.check_inputs(
            version, {item.source: dict.fromkeys(item.parts, b"") for item in items}, max_inputs
        )
        upload_store.submit_open_job(
            conn,
            job.id,
            actor=principal.user.username,
            reason=f"closed by {principal.user.username} with {len(items)} inputs",
        )
    store.work_queued()
    return jobs.get(store, principal, job.id)


def _check_open(job: Job, action: str) -> None:
    if job.status is not JobStatus.OPEN:
        raise Conflict(
            f"cannot {action} job {job.identifier}: it is {job.status.value}, not OPEN",
            param="job",
            status=job.status.value,
        )


def _nothing_required(version: ModelVersion) -> ModelVersion:
    return replace(version, inputs=tuple(replace(spec, required=False) for spec in version.inputs))
