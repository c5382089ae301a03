"""admin accounts: the configured password last applied, and when the password last changed

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("admin_accounts", sa.Column("configured_password_hash", sa.Text(), nullable=True))
    op.add_column(
        "admin_accounts", sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("admin_accounts", "password_changed_at")
    op.drop_column("admin_accounts", "configured_password_hash")
