"""Who submitted a set of jobs: each submitter with its live access keys.

Dialects that show the submitting user inside a job (Modzy's ``user`` object, with its
``accessKeys``) ask here once per page, never per job. The jobs are ones the caller may see
already; a key is shown by its public prefix only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from jobline.domain.records import AccessKey, Job, KeyKind, User
from jobline.store import Store
from jobline.store import users as user_store


@dataclass(frozen=True, slots=True)
class Owner:
    """A user who submitted jobs, and its access keys that still work (user keys only)."""

    user: User
    keys: tuple[AccessKey, ...]


def owners(store: Store, jobs: Iterable[Job]) -> dict[str, Owner]:
    """The submitters of ``jobs``, by user identifier."""
    identifiers = sorted({job.user_identifier for job in jobs})
    if not identifiers:
        return {}
    with store.read() as conn:
        found = [user_store.get_user(conn, identifier=identifier) for identifier in identifiers]
        keys = user_store.list_keys(conn, [user.id for user in found])
    live = [key for key in keys if key.revoked_at is None and key.kind is KeyKind.USER]
    return {
        user.identifier: Owner(user, tuple(key for key in live if key.user_id == user.id))
        for user in found
    }
