"""Running a job again: the same model version, inputs, name, timeout, labels and arguments."""

from __future__ import annotations

from jobline.core import jobs
from jobline.domain.records import Job, Principal
from jobline.store import Store


def input_parts(store: Store, principal: Principal, ref: str | int) -> dict[str, dict[str, bytes]]:
    """A job's inputs as they were submitted: ``{source: {input name: bytes}}``.

    Raises JobNotFound for a job the caller may not see, and OutputNotFound when a part's bytes
    have left the blob store (the job was deleted by retention meanwhile).
    """
    _, items = jobs.results(store, principal, ref)
    return {
        item.source: {name: store.blobs.get(key) for name, key in item.parts.items()}
        for item in items
    }


def rerun(
    store: Store,
    principal: Principal,
    ref: str | int,
    *,
    name: str | None = None,
    description: str | None = None,
    max_inputs: int = jobs.MAX_INPUTS_PER_JOB,
) -> Job:
    """Submit a job the caller may see again, as ``principal``; returns the new job.

    The new job runs the same model version on the same cases (the inputs as they were
    queued, so a split job is not split again) with the same settings. It keeps the name and
    says in its description which job it repeats, unless ``name`` or ``description`` is given.
    """
    job = jobs.get(store, principal, ref)
    submission = jobs.Submission(
        model=job.model_identifier,
        version=job.model_version,
        inputs=input_parts(store, principal, job.id),
        name=job.name if name is None else name,
        description=(
            f"rerun of job {job.id} ({job.identifier})" if description is None else description
        ),
        explain=job.explain,
        timeout_seconds=job.timeout_seconds,
        labels=job.labels,
        args=job.args,
    )
    return jobs.submit(store, principal, submission, max_inputs=max_inputs, split=False)
