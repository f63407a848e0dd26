"""jobline: a self-hosted, multi-user job service with a first-class job history.

The SDK is ``jobline.Client``; errors are in ``jobline.errors``; statuses in
``jobline.domain.status``.
"""

from jobline import errors
from jobline.client import Client
from jobline.domain.status import InputStatus, JobStatus

__all__ = ["Client", "InputStatus", "JobStatus", "errors"]
__version__ = "0.1.0"
