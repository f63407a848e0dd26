"""The JESS dialect: ``/users/api`` (log on, renew, log off) and ``/jess_web/api`` (EnergyPlus
jobs: upload, list, status, cancel, rerun, result folder and zip).

A thin adapter over the core (DESIGN §5), for the scripts written for ENSIMS's JESS service
(Python ``requests``, curl, the C# jess_client): they work against jobline by changing the
host. The session is a JWT in the ``session_token`` cookie, the answers the ``{ok, status,
data}`` envelope, ids the job serials, times epoch milliseconds. The wire contract is
``shared/reference/jess-api.md``.
"""

from __future__ import annotations

from fastapi import APIRouter

from jobline.api.jess import files, jobs, submit, users
from jobline.api.jess.wire import error_response

router = APIRouter()
router.include_router(users.router)
jess = APIRouter(prefix="/jess_web/api")
# The upload before "/job/{ref}" (cancel), which would take nothing from it but the order reads.
jess.include_router(submit.router)
jess.include_router(jobs.router)
jess.include_router(files.router)
router.include_router(jess)

__all__ = ["error_response", "router"]
