"""Submitting, reading and canceling jobs, and asking for their history."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from jobline.core.auth import require_user_key
from jobline.core.collect import split_inputs
from jobline.domain.history import HistoryQuery
from jobline.domain.records import (
    Event,
    Input,
    Job,
    JobResult,
    Model,
    ModelVersion,
    OutputFile,
    Page,
    Principal,
)
from jobline.domain.status import JobStatus
from jobline.errors import InvalidInputs, JobNotFound, OutputNotFound, PayloadTooLarge, UnknownModel
from jobline.store import Store, catalog, progress
from jobline.store import history as history_store
from jobline.store import jobs as job_store

MAX_INPUTS_PER_JOB = 10_000
MAX_SOURCE_LENGTH = 200
MAX_NAME_LENGTH = 200
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600.0


@dataclass(frozen=True)
class Submission:
    """A job as a caller asks for it: inputs are ``{source: {input name: bytes}}``."""

    model: str
    inputs: dict[str, dict[str, bytes]]
    version: str | None = None
    name: str = ""
    description: str = ""
    explain: bool = False
    timeout_seconds: float | None = None  # per input; the model version's when None
    job_timeout_seconds: float | None = None  # for the whole job, from its submission
    labels: tuple[str, ...] = ()
    args: dict[str, Any] = field(default_factory=dict)


def resolve_model(store: Store, identifier: str, version: str | None) -> tuple[Model, ModelVersion]:
    """The model and version a submission names; UnknownModel lists what exists."""
    with store.read() as conn:
        model = catalog.get_model(conn, identifier)
        models = catalog.list_models(conn) if model is None else []
    if model is None:
        available = ", ".join(m.identifier for m in models) or "none"
        raise UnknownModel(
            f"unknown model {identifier!r}; available models: {available}",
            param="model",
            value=identifier,
            accepted=[m.identifier for m in models],
        )
    chosen = model.version(version)
    if chosen is None:
        versions = [v.version for v in model.versions]
        raise UnknownModel(
            f"model {identifier!r} has no version {version!r}; versions: {', '.join(versions)}",
            param="version",
            value=version,
            accepted=versions,
        )
    return model, chosen


def check_inputs(
    version: ModelVersion, inputs: dict[str, dict[str, bytes]], max_inputs: int
) -> None:
    """Raise unless every input has exactly the parts the model version declares."""
    if not inputs:
        raise InvalidInputs("a job needs at least one input", param="input")
    if len(inputs) > max_inputs:
        raise PayloadTooLarge(
            f"a job takes at most {max_inputs} inputs, got {len(inputs)}", param="input"
        )
    specs = {spec.name: spec for spec in version.inputs}
    declared = ", ".join(specs)
    required = {name for name, spec in specs.items() if spec.required}
    for source, parts in inputs.items():
        if not source or len(source) > MAX_SOURCE_LENGTH:
            raise InvalidInputs(
                f"input source {source!r} must be 1 to {MAX_SOURCE_LENGTH} characters",
                param="input",
            )
        unexpected = sorted(set(parts) - set(specs))
        missing = sorted(required - set(parts))
        if unexpected or missing:
            problem = f"unexpected {unexpected}" if unexpected else f"missing {missing}"
            raise InvalidInputs(
                f"input {source!r}: {problem}; model {version.model_identifier!r} "
                f"version {version.version} takes: {declared}",
                param="input",
                source=source,
                accepted=list(specs),
            )
        for name, data in parts.items():
            if len(data) > specs[name].max_bytes:
                raise PayloadTooLarge(
                    f"input {source!r} part {name!r} is {len(data)} bytes; "
                    f"the limit is {specs[name].max_bytes} bytes",
                    param="input",
                    limit=specs[name].max_bytes,
                )


def submit(
    store: Store,
    principal: Principal,
    submission: Submission,
    *,
    status: JobStatus = JobStatus.SUBMITTED,
    max_inputs: int = MAX_INPUTS_PER_JOB,
    split: bool = True,
) -> Job:
    """Create a job and queue its inputs; all of it is stored, or none of it.

    ``split`` false queues the inputs as the model's cases already (a job run again).
    """
    require_user_key(principal)
    model, version = resolve_model(store, submission.model, submission.version)
    check_inputs(version, submission.inputs, max_inputs)
    queued, collects = split_inputs(version, submission.inputs, submission.args, split=split)
    if len(queued) > max_inputs:
        raise PayloadTooLarge(
            f"the job splits into {len(queued)} inputs; at most {max_inputs} are allowed",
            param="input",
        )
    if len(submission.name) > MAX_NAME_LENGTH:
        raise InvalidInputs(f"name is longer than {MAX_NAME_LENGTH} characters", param="name")
    _check_no_nul(submission)
    for param, seconds in (
        ("timeout", submission.timeout_seconds),
        ("job_timeout", submission.job_timeout_seconds),
    ):
        if seconds is not None and not 0 < seconds <= MAX_TIMEOUT_SECONDS:
            raise InvalidInputs(
                f"{param} must be a number of seconds above 0 and at most "
                f"{MAX_TIMEOUT_SECONDS:g}, got {seconds:g}",
                param=param,
            )
    identifier = job_store.new_identifier()
    try:
        new_inputs = _stored_inputs(store, identifier, queued)
        user = principal.user
        new = job_store.NewJob(
            identifier=identifier,
            name=submission.name,
            description=submission.description,
            account_id=user.account_id,
            user_id=user.id,
            username=user.username,
            key_prefix=principal.key_prefix,
            model_id=model.id,
            model_identifier=model.identifier,
            model_name=model.name,
            model_version=version.version,
            account_identifier=user.account_identifier,
            user_identifier=user.identifier,
            explain=submission.explain,
            timeout_seconds=submission.timeout_seconds,
            args=submission.args,
            labels=submission.labels,
            inputs=new_inputs,
            status=status,
            collects=collects,
            job_timeout_seconds=submission.job_timeout_seconds,
        )
        with store.write() as conn:
            job = job_store.insert_job(conn, new, actor=user.username)
            store.announce_work(conn)
    except BaseException:
        store.blobs.delete_group(identifier)
        raise
    store.work_queued(announced=True)
    return job


def _stored_inputs(
    store: Store, identifier: str, queued: dict[str, dict[str, bytes]]
) -> tuple[job_store.NewInput, ...]:
    """The inputs with their parts in the blob store. A part that several inputs share (the
    weather of every month of a split run) is stored, and counted in the size, once."""
    keys: dict[bytes, str] = {}
    made = []
    for source, parts in queued.items():
        stored: dict[str, str] = {}
        size = 0
        for name, data in parts.items():
            digest = hashlib.sha256(data).digest()
            if digest not in keys:
                keys[digest] = store.blobs.put(identifier, data)
                size += len(data)
            stored[name] = keys[digest]
        made.append(job_store.NewInput(source=source, parts=stored, size=size))
    return tuple(made)


def _check_no_nul(submission: Submission) -> None:
    # PostgreSQL cannot store NUL in text or JSON; refuse it on every database alike.
    texts = {
        "name": submission.name,
        "description": submission.description,
        "labels": "".join(submission.labels),
        "input": "".join(submission.inputs),
        "args": json.dumps(submission.args),
    }
    for param, text in texts.items():
        if "\x00" in text or "\\u0000" in text:
            raise InvalidInputs(f"{param} must not contain NUL characters", param=param)


def get(store: Store, principal: Principal, ref: str | int) -> Job:
    """A job the caller may see, by UUID or serial; JobNotFound for everything else."""
    with store.read() as conn:
        job = job_store.get_job(conn, ref, principal)
    if job is None:
        raise JobNotFound(f"no job {ref!r}", param="job", value=str(ref))
    return job


def cancel(store: Store, principal: Principal, ref: str | int) -> Job:
    """Cancel a job: its queued inputs end now. A job that has ended is returned unchanged."""
    require_user_key(principal)
    job = get(store, principal, ref)
    with store.write() as conn:
        progress.end_job(
            conn,
            job.id,
            JobStatus.CANCELED,
            actor=principal.user.username,
            reason=f"canceled by {principal.user.username}",
        )
    return get(store, principal, job.id)


def results(store: Store, principal: Principal, ref: str | int) -> tuple[Job, list[Input]]:
    """A job and each of its inputs with status, outputs, error and timings."""
    job = get(store, principal, ref)
    with store.read() as conn:
        return job, job_store.list_inputs(conn, job.id)


def collected(store: Store, principal: Principal, ref: str | int) -> JobResult | None:
    """What the model's collect step made of a job's results; None before or without one."""
    job = get(store, principal, ref)
    with store.read() as conn:
        return progress.get_result(conn, job.id)


def events(store: Store, principal: Principal, ref: str | int) -> list[Event]:
    """A job's timeline, oldest first."""
    job = get(store, principal, ref)
    with store.read() as conn:
        return job_store.list_events(conn, job.id)


def output_file(
    store: Store, principal: Principal, ref: str | int, source: str, name: str
) -> tuple[OutputFile, bytes]:
    """One output file of one input of a job."""
    _, items = results(store, principal, ref)
    item = next((i for i in items if i.source == source), None)
    if item is None:
        raise OutputNotFound(f"job {ref!r} has no input {source!r}", param="source")
    found = next((f for f in item.files if f.name == name), None)
    if found is None:
        names = [f.name for f in item.files]
        raise OutputNotFound(
            f"input {source!r} has no output file {name!r}; it has: {names}", param="name"
        )
    return found, store.blobs.get(found.blob_key)


def collected_file(
    store: Store, principal: Principal, ref: str | int, name: str
) -> tuple[OutputFile, bytes]:
    """One file of a job's collected result."""
    result = collected(store, principal, ref)
    found = next((f for f in result.files if f.name == name), None) if result else None
    if found is None:
        names = [f.name for f in result.files] if result else []
        raise OutputNotFound(
            f"job {ref!r} has no collected file {name!r}; it has: {names}", param="name"
        )
    return found, store.blobs.get(found.blob_key)


def history(store: Store, principal: Principal, query: HistoryQuery) -> Page:
    """The page of jobs ``principal`` may see that ``query`` asks for."""
    require_user_key(principal)
    with store.read() as conn:
        return history_store.page(conn, query, principal)


def list_models(store: Store) -> list[Model]:
    with store.read() as conn:
        return catalog.list_models(conn)


def get_model(store: Store, identifier: str) -> Model:
    model, _ = resolve_model(store, identifier, None)
    return model
