"""Every error jobline raises on purpose, in one tree.

    JoblineError
    ├── InvalidRequest            bad input from the caller (HTTP 400)
    │   ├── InvalidQuery          a history filter, sort or page that cannot be served
    │   ├── UnknownModel          no such model or version
    │   └── InvalidInputs         a job's inputs do not match its model
    ├── PayloadTooLarge           a body or an input over its size limit (HTTP 413)
    ├── NotAuthenticated          no credentials, or ones that do not check out (HTTP 401)
    ├── NotAllowed                authenticated, but the role may not do this (HTTP 403)
    ├── NotFound                  nothing the caller may see by that name (HTTP 404)
    │   ├── JobNotFound
    │   ├── OutputNotFound
    │   └── UserNotFound
    ├── Conflict                  the request clashes with the current state (HTTP 409)
    │   └── AlreadyExists
    └── ServiceUnavailable        a dependency (the database) does not answer (HTTP 503)

Each class's docstring is its default message; ``code`` is the stable name that travels on the
wire (``{"error": code, "message": ..., "details": ...}``) so the SDK can raise the same class on
the client side. The HTTP status of each class is decided by the API layer, per dialect.
"""

from __future__ import annotations

from typing import Any, ClassVar


class JoblineError(Exception):
    """Something went wrong in jobline."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or (self.__doc__ or "").strip()
        self.details = details
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "details": self.details}


class InvalidRequest(JoblineError):
    """The request is not valid."""

    code = "invalid_request"


class InvalidQuery(InvalidRequest):
    """The history query is not valid."""

    code = "invalid_query"


class UnknownModel(InvalidRequest):
    """No such model or model version."""

    code = "unknown_model"


class InvalidInputs(InvalidRequest):
    """The job's inputs do not match what the model accepts."""

    code = "invalid_inputs"


class PayloadTooLarge(JoblineError):
    """The request or one of its inputs is larger than allowed."""

    code = "payload_too_large"


class NotAuthenticated(JoblineError):
    """Missing or invalid credentials."""

    code = "not_authenticated"


class NotAllowed(JoblineError):
    """You are not allowed to do this."""

    code = "not_allowed"


class NotFound(JoblineError):
    """Not found."""

    code = "not_found"


class JobNotFound(NotFound):
    """No such job."""

    code = "job_not_found"


class OutputNotFound(NotFound):
    """No such output."""

    code = "output_not_found"


class UserNotFound(NotFound):
    """No such user."""

    code = "user_not_found"


class Conflict(JoblineError):
    """The request conflicts with the current state."""

    code = "conflict"


class AlreadyExists(Conflict):
    """It exists already."""

    code = "already_exists"


class ServiceUnavailable(JoblineError):
    """The service cannot answer right now."""

    code = "service_unavailable"


def _all_subclasses(cls: type[JoblineError]) -> list[type[JoblineError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_all_subclasses(sub))
    return found


BY_CODE: dict[str, type[JoblineError]] = {cls.code: cls for cls in _all_subclasses(JoblineError)}


def from_dict(body: dict[str, Any]) -> JoblineError:
    """Rebuild the error an API answered with (used by the SDK)."""
    cls = BY_CODE.get(str(body.get("error")), JoblineError)
    details = body.get("details") or {}
    error = cls(str(body.get("message") or cls.__doc__ or ""))
    error.details = details if isinstance(details, dict) else {"details": details}
    return error
