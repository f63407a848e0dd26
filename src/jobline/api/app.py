"""The ASGI application: every front-end mounted over one store."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from jobline.api import errors, jess, modzy, reports, v1, work
from jobline.api.auth import store_of
from jobline.api.limits import BodyLimit
from jobline.api.modzy.wire import error_response as modzy_error
from jobline.dashboard import install as install_dashboard
from jobline.settings import Settings
from jobline.store import Store, migrate


def create_app(store: Store, settings: Settings) -> FastAPI:
    """The jobline HTTP application over ``store`` (which the caller opens and closes)."""
    app = FastAPI(
        title="jobline",
        summary="A multi-user job service with a first-class job history.",
        version="0.1.0",
    )
    app.state.store = store
    app.state.settings = settings
    errors.install(app)
    # Before v1, whose /v1/jobs/{job} would take "stats" and "export" for job references.
    app.include_router(reports.router)
    app.include_router(v1.router)
    work.install(app)  # /v1/work and /v1/workers, for remote workers and admins
    app.include_router(modzy.router)
    app.include_router(jess.router)
    app.add_api_route("/healthz", healthz, methods=["GET"], summary="Liveness")
    app.add_api_route("/readyz", readyz, methods=["GET"], summary="Readiness")
    install_dashboard(app)  # last: its "/" pages come after every API path
    dialects = {
        "/api/": modzy_error,
        "/jess_web/": jess.error_response,
        "/users/api/": jess.error_response,
    }
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes, dialects=dialects)
    return app


def healthz() -> dict[str, Any]:
    return {"status": "ok"}


def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers and its schema is at the newest revision."""
    store = store_of(request)
    try:
        with store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        revision = migrate.current(store.engine)
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "reason": str(exc)}, status_code=503)
    if revision != migrate.head():
        reason = f"schema at {revision}, expected {migrate.head()}: run 'jobline db upgrade'"
        return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
    return JSONResponse({"status": "ready", "schema": revision})
