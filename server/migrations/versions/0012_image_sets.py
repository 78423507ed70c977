"""image sets: a gallery's photos grouped in sets (Ceremony, Reception …) its clients see
as tabs

image_sets (per gallery: name, position) and images.set_id (None: in no set; a deleted set
leaves its photos in the gallery). See server/image_sets.py.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 10:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photographer_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["photographer_id"], ["photographers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("image_sets") as batch:
        batch.create_index(batch.f("ix_image_sets_photographer_id"), ["photographer_id"])
        batch.create_index("ix_image_sets_event_position", ["event_id", "position"])
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("set_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_images_set", "image_sets", ["set_id"], ["id"],
                                 ondelete="SET NULL")
        batch.create_index(batch.f("ix_images_set_id"), ["set_id"])


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.drop_index(batch.f("ix_images_set_id"))
        batch.drop_constraint("fk_images_set", type_="foreignkey")
        batch.drop_column("set_id")
    with op.batch_alter_table("image_sets") as batch:
        batch.drop_index("ix_image_sets_event_position")
        batch.drop_index(batch.f("ix_image_sets_photographer_id"))
    op.drop_table("image_sets")
