"""Domain records in Modzy's shapes: the Job object, results, models and versions.

The Job object is exactly the one of Modzy's job history schema (``seeds/000``): every
required field, nothing else; statuses in Modzy's spelling (``domain.status.MODZY``).
``completed`` counts inputs that succeeded and ``failed`` those that failed, the same counts
the history sorts ``completed`` and ``fail`` order by.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from jobline.api.modzy.wire import millis, millis_between, timestamp, without_none
from jobline.core.owners import Owner
from jobline.domain.records import Input, InputSpec, Job, Model, ModelVersion
from jobline.domain.status import MODZY, MODZY_INPUT, InputStatus


def job_object(job: Job, owner: Owner | None, sources: Sequence[str] = ()) -> dict[str, Any]:
    """The Job object; ``sources`` are the input source keys (left empty in history rows)."""
    counters = job.counters
    return without_none(
        {
            "jobIdentifier": job.identifier,
            "submittedBy": job.key_prefix or "",
            "accountIdentifier": job.account_identifier,
            "model": {
                "identifier": job.model_identifier,
                "version": job.model_version,
                "name": job.model_name,
            },
            "status": MODZY[job.status],
            "createdAt": timestamp(job.created_at),
            "updatedAt": timestamp(job.updated_at),
            "submittedAt": timestamp(job.submitted_at or job.created_at),
            "total": counters.total,
            "pending": counters.pending,
            "completed": counters.succeeded,
            "failed": counters.failed,
            "elapsedTime": _millis(job.elapsed_seconds),
            "queueTime": _millis(job.queue_seconds),
            "user": None if owner is None else user_object(owner),
            "jobInputs": [{"identifier": source} for source in sources],
            "explain": job.explain,
        }
    )


def user_object(owner: Owner) -> dict[str, Any]:
    user = owner.user
    return {
        "identifier": user.identifier,
        "externalIdentifier": user.external_identifier,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "email": user.email,
        "accessKeys": [{"prefix": key.prefix, "isDefault": key.is_default} for key in owner.keys],
        "status": user.status.value,
        "title": user.title,
    }


def _millis(seconds: float | None) -> int | None:
    return None if seconds is None else millis(seconds)


FileUrl = Callable[[str, str], str]
"""The URL of one output file, from its input source and its name."""


def results_object(job: Job, items: Sequence[Input], file_url: FileUrl) -> dict[str, Any]:
    """A job's results: ``results`` for inputs that succeeded, ``failures`` for those that
    ended otherwise, each keyed by source in input order; ``finished`` once the job has ended."""
    results: dict[str, Any] = {}
    failures: dict[str, Any] = {}
    queue_times = [t for t in (millis_between(i.queued_at, i.started_at) for i in items) if t]
    latencies = [millis(i.elapsed_seconds) for i in items if i.elapsed_seconds is not None]
    for item in items:
        if item.status is InputStatus.SUCCEEDED:
            files = {f.name: file_url(item.source, f.name) for f in item.files}
            results[item.source] = {**_input_times(item), **item.outputs, **files}
        elif item.status.terminal:
            error = item.error or f"the input ended {item.status.value}"
            failures[item.source] = {**_input_times(item), "error": error}
    return without_none(
        {
            "jobIdentifier": job.identifier,
            "accountIdentifier": job.account_identifier,
            "total": job.counters.total,
            "completed": job.counters.succeeded,
            "failed": job.counters.failed,
            "finished": job.status.terminal,
            "submittedByKey": job.key_prefix or "",
            "explained": job.explain,
            "submittedAt": timestamp(job.submitted_at or job.created_at),
            "initialQueueTime": _millis(job.queue_seconds),
            "totalQueueTime": sum(queue_times),
            "averageModelLatency": sum(latencies) / len(latencies) if latencies else 0.0,
            "totalModelLatency": float(sum(latencies)),
            "elapsedTime": _millis(job.elapsed_seconds),
            "inputSize": job.submission_bytes,
            "results": results,
            "failures": failures,
        }
    )


def _input_times(item: Input) -> dict[str, Any]:
    return without_none(
        {
            "status": MODZY_INPUT[item.status],
            "queueTime": millis_between(item.queued_at, item.started_at),
            "modelLatency": _millis(item.elapsed_seconds),
            "elapsedTime": millis_between(item.queued_at, item.finished_at),
            "startTime": timestamp(item.started_at) if item.started_at else None,
            "updateTime": timestamp(item.finished_at) if item.finished_at else None,
            "endTime": timestamp(item.finished_at) if item.finished_at else None,
        }
    )


def model_summary(model: Model) -> dict[str, Any]:
    """A model as ``GET /api/models`` lists it."""
    return {
        "modelId": model.identifier,
        "name": model.name,
        "latestVersion": model.latest.version,
        "versions": [version.version for version in model.versions],
    }


def model_object(model: Model) -> dict[str, Any]:
    """A model as ``GET /api/models/{id}`` shows it: every registered model can run."""
    return {
        **model_summary(model),
        "latestActiveVersion": model.latest.version,
        "description": model.description,
        "isActive": True,
        "tags": [],
        "images": [],
    }


def version_object(model: Model, version: ModelVersion) -> dict[str, Any]:
    """A model version: its inputs, outputs and time limits (in ms).

    ``timeout.run`` is the limit on one input; ``timeout.status`` (the time Modzy allowed a
    model to start) is 0 because jobline sets no separate limit on loading a model.
    """
    return without_none(
        {
            "version": version.version,
            "createdAt": timestamp(version.created_at) if version.created_at else None,
            "isActive": True,
            "model": {"modelId": model.identifier, "name": model.name},
            "timeout": {"status": 0, "run": millis(version.timeout_seconds)},
            "inputs": [
                {
                    "name": spec.name,
                    "acceptedMediaTypes": ", ".join(spec.media_types),
                    "maximumSize": spec.max_bytes,
                    "description": spec.description,
                }
                for spec in version.inputs
            ],
            "outputs": [
                {"name": spec.name, "mediaType": spec.media_type, "description": spec.description}
                for spec in version.outputs
            ],
        }
    )


SAMPLE_SOURCE = "my-input"


def sample_input(model: Model, version: ModelVersion) -> dict[str, Any]:
    """A job body for this version with a placeholder for every input it takes.

    Text inputs go as ``text``; any other media type as ``embedded`` data URIs.
    """
    textual = all(_is_text(spec) for spec in version.inputs)
    parts = {
        spec.name: _placeholder(spec) if textual else f"data:{spec.media_types[0]};base64,..."
        for spec in version.inputs
    }
    return {
        "model": {"identifier": model.identifier, "version": version.version},
        "explain": False,
        "input": {"type": "text" if textual else "embedded", "sources": {SAMPLE_SOURCE: parts}},
    }


def sample_output(model: Model, version: ModelVersion) -> dict[str, Any]:
    """Where each output of this version appears in the results, described in place."""
    outputs = {
        spec.name: f"<{spec.media_type}: {spec.description or spec.name}>"
        for spec in version.outputs
    }
    return {"results": {SAMPLE_SOURCE: {"status": MODZY_INPUT[InputStatus.SUCCEEDED], **outputs}}}


def _is_text(spec: InputSpec) -> bool:
    return all(media.startswith("text/") for media in spec.media_types)


def _placeholder(spec: InputSpec) -> str:
    return f"<{spec.description or spec.media_types[0]}>"
