"""The web dashboard: server-rendered pages over the core, at ``/`` (DESIGN §5).

Login at ``/login``, the history at ``/jobs`` (``/`` leads there), a job at ``/jobs/{id}``,
``/submit``, ``/usage`` and ``/admin/...``; scripts, styles and the vendored htmx and uPlot
(with their licences) under ``/static``. No build step: the files are served as they are.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from jobline.dashboard import admin, history, job, login, submit, usage
from jobline.dashboard.web import HERE

router = APIRouter(include_in_schema=False)
for module in (login, history, job, submit, usage, admin):
    router.include_router(module.router)


def install(app: FastAPI) -> None:
    """Add the dashboard's pages and its static files to ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


__all__ = ["install", "router"]
