"""photo order and watermark: a gallery orders its photos by capture time, file name or
by hand, and may mark what its clients browse

events.photo_order (taken | filename | manual) and images.taken_at (EXIF
DateTimeOriginal, read at upload); events.watermark, watermark_text, watermark_position,
watermark_opacity (server/watermark.py).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 05:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("photo_order", sa.String(length=10), nullable=False,
                                   server_default="taken"))
        batch.add_column(sa.Column("watermark", sa.Boolean(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("watermark_text", sa.String(length=60), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("watermark_position", sa.String(length=12),
                                   nullable=False, server_default="center"))
        batch.add_column(sa.Column("watermark_opacity", sa.Integer(), nullable=False,
                                   server_default="35"))
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("taken_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.drop_column("taken_at")
    with op.batch_alter_table("events") as batch:
        for column in ("watermark_opacity", "watermark_position", "watermark_text",
                       "watermark", "photo_order"):
            batch.drop_column(column)
