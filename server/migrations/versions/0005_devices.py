"""devices: the browsers a contact used, and one-time links that verify them

A browser that types an email at the gate is a new, unverified device of that contact
until it follows a link emailed to the address; favorites, comments and downloads say
which device made them, so an unverified one sees only its own.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MARKED = ("favorites", "comments", "downloads")


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photographer_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("verified_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("user_agent", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["photographer_id"], ["photographers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("devices") as batch_op:
        batch_op.create_index("ix_devices_tenant_contact", ["photographer_id", "contact_id"])

    op.create_table(
        "device_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photographer_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["photographer_id"], ["photographers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("device_links") as batch_op:
        batch_op.create_index(batch_op.f("ix_device_links_photographer_id"), ["photographer_id"])

    op.create_table(
        "device_favorites",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("device_id", "image_id"),
    )

    for table in MARKED:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("device_id", sa.Integer(), nullable=True))
            batch_op.create_foreign_key(f"fk_{table}_device_id_devices", "devices",
                                        ["device_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    for table in MARKED:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_device_id_devices", type_="foreignkey")
            batch_op.drop_column("device_id")
    op.drop_table("device_favorites")
    with op.batch_alter_table("device_links") as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_links_photographer_id"))
    op.drop_table("device_links")
    with op.batch_alter_table("devices") as batch_op:
        batch_op.drop_index("ix_devices_tenant_contact")
    op.drop_table("devices")
