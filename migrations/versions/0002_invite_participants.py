"""participants remember the invite they came through and the client address; hosts may unmute

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("participants", sa.Column("invite_id", sa.BigInteger(), nullable=True))
    op.add_column("participants", sa.Column("joined_from", sa.String(length=64), nullable=True))
    op.create_foreign_key(
        op.f("fk_participants_invite_id_invites"),
        "participants",
        "invites",
        ["invite_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(op.f("ix_participants_invite_id"), "participants", ["invite_id"])
    op.drop_constraint(op.f("ck_host_actions_action"), "host_actions", type_="check")
    op.create_check_constraint(
        op.f("ck_host_actions_action"), "host_actions", "action IN ('mute', 'unmute', 'remove', 'close')"
    )


def downgrade() -> None:
    op.execute("DELETE FROM host_actions WHERE action = 'unmute'")
    op.drop_constraint(op.f("ck_host_actions_action"), "host_actions", type_="check")
    op.create_check_constraint(
        op.f("ck_host_actions_action"), "host_actions", "action IN ('mute', 'remove', 'close')"
    )
    op.drop_index(op.f("ix_participants_invite_id"), table_name="participants")
    op.drop_constraint(op.f("fk_participants_invite_id_invites"), "participants", type_="foreignkey")
    op.drop_column("participants", "joined_from")
    op.drop_column("participants", "invite_id")
