"""Split and collect: a model may turn one submitted input into many, and merge their
results into one job result when they have all ended (DESIGN §4)."""

from __future__ import annotations

import logging
from typing import Any

from jobline.domain.records import ModelVersion, OutputFile
from jobline.domain.status import InputStatus
from jobline.errors import InvalidInputs
from jobline.models.base import ModelCode, ModelError, Result
from jobline.models.registry import load_class
from jobline.store import Store, catalog, progress
from jobline.store import jobs as job_store

log = logging.getLogger(__name__)


def split_inputs(
    version: ModelVersion,
    inputs: dict[str, dict[str, bytes]],
    args: dict[str, Any],
    *,
    split: bool = True,
) -> tuple[dict[str, dict[str, bytes]], bool]:
    """The inputs to queue for a submission (its cases, where the model splits), and whether
    the model collects the results afterwards. With ``split`` false the inputs are cases
    already (those of a job being run again) and are queued as they are."""
    code = load_class(version.entry_point)
    if not split:
        return inputs, code.collects
    queued: dict[str, dict[str, bytes]] = {}
    for source, parts in inputs.items():
        try:
            cases = code.split(parts, args)
        except ModelError as exc:
            raise InvalidInputs(f"input {source!r}: {exc}", param="input", source=source) from exc
        if cases is None:
            queued[source] = parts
        else:
            queued.update({f"{source}/{case}": case_parts for case, case_parts in cases.items()})
    return queued, code.collects


def collect(store: Store, job_id: int) -> None:
    """Run the model's collect step over a job's succeeded inputs and end the job with it.

    It runs where the job's last input was reported (the server, or the embedded worker's
    process), without the model's ``load``: collecting merges results, it does not compute.
    """
    with store.read() as conn:
        job = job_store.get_job(conn, job_id)
        items = job_store.list_inputs(conn, job_id)
        model = catalog.get_model(conn, job.model_identifier) if job is not None else None
    version = model.version(job.model_version) if model is not None and job else None
    if job is None or version is None:
        return
    results = {
        item.source: Result(
            outputs=item.outputs,
            files={f.name: store.blobs.get(f.blob_key) for f in item.files},
        )
        for item in items
        if item.status is InputStatus.SUCCEEDED
    }
    outputs: dict[str, Any] = {}
    files: list[OutputFile] = []
    error = ""
    try:
        code: ModelCode = load_class(version.entry_point)()
        merged = code.collect(results, job.args)
        outputs = merged.outputs
        files = [
            OutputFile(name, store.blobs.put(job.identifier, data), len(data), _media(name))
            for name, data in merged.files.items()
        ]
    except ModelError as exc:
        error = str(exc)
    except Exception as exc:
        log.exception("collecting the results of job %s failed", job.identifier)
        error = f"{type(exc).__name__}: {exc}"
    with store.write() as conn:
        progress.finish_collect(conn, job_id, outputs, files, error)


def _media(name: str) -> str:
    return {"csv": "text/csv", "json": "application/json"}.get(
        name.rpartition(".")[2], "application/octet-stream"
    )
