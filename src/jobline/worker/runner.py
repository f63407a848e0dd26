"""Running model code on one claimed input and turning what happened into an ``Outcome``.

For now model code runs in the worker's own thread; child processes with timeouts are the
next step (DESIGN §4) and will replace ``Runner`` behind the same ``run`` method.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from jobline.domain.status import InputStatus
from jobline.domain.work import Claim, Outcome
from jobline.models.base import ModelCode, ModelError
from jobline.models.registry import load_class

log = logging.getLogger(__name__)


class Runner:
    """Runs claims, loading each model once (per runner) and reusing it for every input."""

    def __init__(self) -> None:
        self._loaded: dict[str, ModelCode] = {}

    def model(self, entry_point: str) -> ModelCode:
        if entry_point not in self._loaded:
            code = load_class(entry_point)()
            code.load()
            self._loaded[entry_point] = code
        return self._loaded[entry_point]

    def run(self, claim: Claim, parts: dict[str, bytes]) -> Outcome:
        started = datetime.now(UTC)
        cpu_start = time.thread_time()
        try:
            result = self.model(claim.entry_point).run(parts, claim.args)
        except ModelError as exc:
            return self.failed(str(exc), started, cpu_start)
        except Exception as exc:
            log.exception("model %s failed on input %s", claim.model_identifier, claim.source)
            return self.failed(f"{type(exc).__name__}: {exc}", started, cpu_start)
        return Outcome(
            status=InputStatus.SUCCEEDED,
            started_at=started,
            finished_at=datetime.now(UTC),
            cpu_seconds=time.thread_time() - cpu_start,
            outputs=result.outputs,
            files=result.files,
        )

    @staticmethod
    def failed(
        error: str, started: datetime | None = None, cpu_start: float | None = None
    ) -> Outcome:
        """The outcome of an input that failed with ``error``."""
        now = datetime.now(UTC)
        cpu = 0.0 if cpu_start is None else time.thread_time() - cpu_start
        return Outcome(
            status=InputStatus.FAILED,
            started_at=started or now,
            finished_at=now,
            cpu_seconds=cpu,
            error=error,
        )
