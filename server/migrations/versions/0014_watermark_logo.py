"""watermark with the studio logo: a gallery's visible mark is its text or the studio's
brand logo (server/watermark.py)

events.watermark_kind (text | logo).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 10:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("watermark_kind", sa.String(length=8), nullable=False,
                                   server_default="text"))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("watermark_kind")
