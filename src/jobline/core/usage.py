"""What a user has used of the service (JESS's usage report)."""

from __future__ import annotations

from jobline.core.auth import require_user_key
from jobline.domain.records import Principal
from jobline.store import Store
from jobline.store.usage import Usage, of_user


def usage(store: Store, principal: Principal) -> Usage:
    """The caller's own totals over all of its jobs."""
    require_user_key(principal)
    with store.read() as conn:
        return of_user(conn, principal.user.id)
