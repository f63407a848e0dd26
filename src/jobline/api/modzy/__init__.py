"""The Modzy dialect under ``/api``: what the unmodified ``modzy-sdk`` (0.11.6) calls.

A thin adapter over the core (DESIGN §5): Modzy's paths and parameter names in, Modzy's
camelCase shapes and bare arrays out, ``Authorization: ApiKey <prefix>.<secret>`` with the
same keys as the native API, and errors as ``{"statusCode", "status", "message"}``. The wire
contract is ``shared/reference/modzy-api.md``. ``GET /models`` at the root is deliberately
not served, so the SDK's base-URL probe settles on ``/api``.
"""

from __future__ import annotations

from fastapi import APIRouter

from jobline.api.modzy import history, jobs, models

router = APIRouter(prefix="/api")
# History first: "/jobs/history" must win over "/jobs/{job}".
router.include_router(history.router)
router.include_router(jobs.router)
router.include_router(models.router)

__all__ = ["router"]
