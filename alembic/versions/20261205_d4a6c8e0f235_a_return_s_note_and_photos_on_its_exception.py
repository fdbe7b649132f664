"""a return's note and photos on its exception

Issue 15: ``custody.return`` (and the REST return) may carry the technician's ``note`` and photos
(``blobs``); a damaged or lost return keeps them on the exception it raises, where the supervisor sees
them. Existing exceptions have none.

Revision ID: d4a6c8e0f235
Revises: c3f5a7b9d124
Create Date: 2026-12-05 20:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from alembic import op

revision: str = "d4a6c8e0f235"
down_revision: str | None = "c3f5a7b9d124"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sync_exception", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False, server_default=""
            )
        )
        batch_op.add_column(sa.Column("blobs", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("sync_exception", schema=None) as batch_op:
        batch_op.alter_column("note", server_default=None)
        batch_op.alter_column("blobs", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("sync_exception", schema=None) as batch_op:
        batch_op.drop_column("blobs")
        batch_op.drop_column("note")
