"""the phone's sign-off hash

SYNC.md 1.1 "The phone's own hash of what the customer saw": ``signoff`` gains the phone's
``client_hash`` and the server's ``summary_hash`` of the customer summary (both null for existing
sign-offs: the phone sent none, so ``hash_match`` is null).

Revision ID: b2e4a6c8d013
Revises: a1d3f5b7c902
Create Date: 2026-12-05 19:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from alembic import op

revision: str = "b2e4a6c8d013"
down_revision: str | None = "a1d3f5b7c902"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("signoff", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("client_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column("summary_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("signoff", schema=None) as batch_op:
        batch_op.drop_column("summary_hash")
        batch_op.drop_column("client_hash")
