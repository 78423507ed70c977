"""banner events: views, dismissals and clicks of a gallery's banners, per contact

Once per (gallery, step, contact, kind), at its first time: the workflow page counts
them, and the orders placed after a click.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 02:54:48.977690
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "banner_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photographer_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["photographer_id"], ["photographers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["step_id"], ["workflow_steps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "step_id", "contact_id", "kind"),
    )
    with op.batch_alter_table("banner_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_banner_events_photographer_id"), ["photographer_id"], unique=False
        )
        batch_op.create_index("ix_banner_events_step", ["step_id", "kind"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("banner_events", schema=None) as batch_op:
        batch_op.drop_index("ix_banner_events_step")
        batch_op.drop_index(batch_op.f("ix_banner_events_photographer_id"))

    op.drop_table("banner_events")
