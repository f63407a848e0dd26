"""Wire shapes of the native API (snake_case JSON), built from domain records."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, Field

from jobline.domain.records import Event, Input, Job, JobResult, Model, ModelVersion, Page


class ModelRef(BaseModel):
    identifier: str
    name: str
    version: str


class Counts(BaseModel):
    total: int
    queued: int
    running: int
    succeeded: int
    failed: int
    canceled: int
    timed_out: int


class JobOut(BaseModel):
    identifier: str
    serial: int
    name: str
    description: str
    model: ModelRef
    account: str
    user: str = Field(description="the submitter's username")
    user_identifier: str
    access_key: str | None = Field(description="prefix of the key that submitted the job")
    explain: bool
    timeout_seconds: float | None
    labels: list[str]
    args: dict[str, Any]
    status: str
    category: str = Field(description="PENDING or TERMINATED")
    message: str
    counts: Counts
    created_at: datetime
    submitted_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    queue_seconds: float | None
    elapsed_seconds: float | None
    cpu_seconds: float
    submission_bytes: int
    result_bytes: int

    @classmethod
    def of(cls, job: Job) -> JobOut:
        c = job.counters
        return cls(
            identifier=job.identifier,
            serial=job.id,
            name=job.name,
            description=job.description,
            model=ModelRef(
                identifier=job.model_identifier, name=job.model_name, version=job.model_version
            ),
            account=job.account_identifier,
            user=job.username,
            user_identifier=job.user_identifier,
            access_key=job.key_prefix,
            explain=job.explain,
            timeout_seconds=job.timeout_seconds,
            labels=list(job.labels),
            args=job.args,
            status=job.status.value,
            category=job.status.category,
            message=job.message,
            counts=Counts(
                total=c.total,
                queued=c.queued,
                running=c.running,
                succeeded=c.succeeded,
                failed=c.failed,
                canceled=c.canceled,
                timed_out=c.timed_out,
            ),
            created_at=job.created_at,
            submitted_at=job.submitted_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            updated_at=job.updated_at,
            queue_seconds=job.queue_seconds,
            elapsed_seconds=job.elapsed_seconds,
            cpu_seconds=job.cpu_seconds,
            submission_bytes=job.submission_bytes,
            result_bytes=job.result_bytes,
        )


class HistoryOut(BaseModel):
    jobs: list[JobOut]
    has_more: bool
    next_cursor: str | None
    total: int | None
    total_exact: bool
    query: dict[str, Any] = Field(description="the effective query, as the server applied it")

    @classmethod
    def of(cls, page: Page) -> HistoryOut:
        return cls(
            jobs=[JobOut.of(job) for job in page.jobs],
            has_more=page.has_more,
            next_cursor=page.next_cursor,
            total=page.total,
            total_exact=page.total_exact,
            query=page.echo,
        )


class FileOut(BaseModel):
    name: str
    size: int
    media_type: str
    url: str


class InputOut(BaseModel):
    source: str
    status: str
    attempts: int
    outputs: dict[str, Any]
    files: list[FileOut]
    error: str
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    elapsed_seconds: float | None
    cpu_seconds: float

    @classmethod
    def of(cls, job: Job, item: Input) -> InputOut:
        base = f"/v1/jobs/{job.identifier}/inputs/{quote(item.source, safe='/')}/outputs"
        return cls(
            source=item.source,
            status=item.status.value,
            attempts=item.attempts,
            outputs=item.outputs,
            files=[
                FileOut(name=f.name, size=f.size, media_type=f.media_type, url=f"{base}/{f.name}")
                for f in item.files
            ],
            error=item.error,
            queued_at=item.queued_at,
            started_at=item.started_at,
            finished_at=item.finished_at,
            elapsed_seconds=item.elapsed_seconds,
            cpu_seconds=item.cpu_seconds,
        )


class CollectedOut(BaseModel):
    """What the model's collect step made of the job's results."""

    outputs: dict[str, Any]
    files: list[FileOut]
    error: str

    @classmethod
    def of(cls, job: Job, result: JobResult) -> CollectedOut:
        base = f"/v1/jobs/{job.identifier}/outputs"
        files = [
            FileOut(name=f.name, size=f.size, media_type=f.media_type, url=f"{base}/{f.name}")
            for f in result.files
        ]
        return cls(outputs=result.outputs, files=files, error=result.error)


class ResultsOut(BaseModel):
    job: JobOut
    inputs: list[InputOut]
    collected: CollectedOut | None = Field(
        description="the job's merged result, for models that collect (e.g. split EnergyPlus)"
    )


class EventOut(BaseModel):
    at: datetime
    actor: str
    from_status: str | None
    to_status: str
    reason: str

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(
            at=event.at,
            actor=event.actor,
            from_status=event.from_status,
            to_status=event.to_status,
            reason=event.reason,
        )


class InputSpecOut(BaseModel):
    name: str
    media_types: list[str]
    max_bytes: int
    description: str
    required: bool


class OutputSpecOut(BaseModel):
    name: str
    media_type: str
    description: str


class VersionOut(BaseModel):
    version: str
    inputs: list[InputSpecOut]
    outputs: list[OutputSpecOut]
    timeout_seconds: float

    @classmethod
    def of(cls, version: ModelVersion) -> VersionOut:
        return cls(
            version=version.version,
            inputs=[
                InputSpecOut(
                    name=i.name,
                    media_types=list(i.media_types),
                    max_bytes=i.max_bytes,
                    description=i.description,
                    required=i.required,
                )
                for i in version.inputs
            ],
            outputs=[
                OutputSpecOut(name=o.name, media_type=o.media_type, description=o.description)
                for o in version.outputs
            ],
            timeout_seconds=version.timeout_seconds,
        )


class ModelOut(BaseModel):
    identifier: str
    name: str
    description: str
    latest_version: str
    versions: list[VersionOut]

    @classmethod
    def of(cls, model: Model) -> ModelOut:
        return cls(
            identifier=model.identifier,
            name=model.name,
            description=model.description,
            latest_version=model.latest.version,
            versions=[VersionOut.of(v) for v in model.versions],
        )


class ModelsOut(BaseModel):
    models: list[ModelOut]


class InlineBytes(BaseModel):
    base64: str = Field(description="the input's bytes, base64-encoded")


class JobIn(BaseModel):
    """A job submission as JSON; for files, send multipart/form-data instead."""

    model: str = Field(description="model identifier, e.g. 'sentiment'")
    version: str | None = Field(default=None, description="model version; latest when omitted")
    name: str = ""
    description: str = ""
    explain: bool = False
    timeout: float | None = Field(
        default=None, description="seconds per input; the model's default when omitted"
    )
    job_timeout: float | None = Field(
        default=None, description="seconds for the whole job, from its submission"
    )
    labels: list[str] = []
    args: dict[str, Any] = {}
    inputs: dict[str, dict[str, str | InlineBytes]] = Field(
        description="{source: {input name: text, or {'base64': ...}}}"
    )
