"""teammates in a technician's pull

A technician's pull gains their team's active members' ``user`` records (scope ``m:<team>``), so the
phone can name the receiver of a hand-over offline. No schema change: the users already in the
database are announced once in the change feed for their team's members, as a change to one is.
(A technician's pull tags change with this release, so their next pull starts over and reads these.)

Revision ID: c3f5a7b9d124
Revises: b2e4a6c8d013
Create Date: 2026-12-05 20:10:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import advanced_alchemy.types
import sqlalchemy as sa

from alembic import op

revision: str = "c3f5a7b9d124"
down_revision: str | None = "b2e4a6c8d013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Plain SQL, not the application's scope code: this revision's tables, whatever the models become."""
    bind = op.get_bind()
    now = datetime.now(UTC)
    user = sa.table(
        "user",
        sa.column("id", sa.Uuid()),
        sa.column("version", sa.Integer()),
        sa.column("team_id", sa.Uuid()),
        sa.column("is_active", sa.Boolean()),
    )
    change = sa.table(
        "sync_change",
        sa.column("seq", sa.BigInteger()),
        sa.column("entity", sa.String()),
        sa.column("entity_id", sa.Uuid()),
        sa.column("op", sa.String()),
        sa.column("version", sa.Integer()),
        sa.column("changed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)),
    )
    scope = sa.table(
        "sync_change_scope",
        sa.column("scope", sa.String()),
        sa.column("seq", sa.BigInteger()),
        sa.column("op", sa.String()),
    )
    rows = bind.execute(
        sa.select(user.c.id, user.c.version, user.c.team_id)
        .where(user.c.team_id.is_not(None), user.c.is_active.is_(True))
        .order_by(user.c.id)
    ).all()
    for user_id, version, team_id in rows:
        seq = bind.execute(
            change.insert()
            .values(entity="user", entity_id=user_id, op="put", version=version, changed_at=now)
            .returning(change.c.seq)
        ).scalar_one()
        bind.execute(scope.insert().values(scope=f"m:{team_id}", seq=seq, op="put"))


def downgrade() -> None:
    # The feed rows stay: an older server never pulls the m: scope, and compaction drops them in time.
    pass
