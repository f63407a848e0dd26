"""a claimed input stays QUEUED, under its worker's lease, until the worker begins it

A claim now writes the inputs it leases and not their jobs: a leased input stays QUEUED (and
counts as queued in its job) until its worker reports that it began or ended it. The claim's
index of queued inputs holds only those that no worker holds yet, and expired leases are
looked for among all the leased inputs, queued or running.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 07:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_inputs_running_lease", table_name="inputs")
    op.drop_index("ix_inputs_queued", table_name="inputs")
    _partial("ix_inputs_leased", ["lease_expires_at"], "lease_owner IS NOT NULL")
    _partial("ix_inputs_queued", ["job_id", "id"], "status = 'QUEUED' AND lease_owner IS NULL")


def downgrade() -> None:
    op.drop_index("ix_inputs_leased", table_name="inputs")
    op.drop_index("ix_inputs_queued", table_name="inputs")
    _partial("ix_inputs_running_lease", ["lease_expires_at"], "status = 'RUNNING'")
    _partial("ix_inputs_queued", ["job_id", "id"], "status = 'QUEUED'")


def _partial(name: str, columns: list[str], where: str) -> None:
    op.create_index(
        name,
        "inputs",
        columns,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )
