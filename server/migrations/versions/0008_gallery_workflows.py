"""gallery workflows: workflows, steps, sending rules, client contacts, the schedule

Workflows (one active per gallery type) and their steps (email, banner, announcement with
anchored times); the studio's sending rules (time zone, send time, quiet hours); a
gallery's client contacts; ScheduledAction, the database's schedule that arq executes.
Contacts can unsubscribe; a gallery can opt out of workflows or pick its own.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 01:22:28.376593
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sending_rules",
        sa.Column("photographer_id", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("send_minute", sa.Integer(), nullable=False),
        sa.Column("quiet_start", sa.Integer(), nullable=True),
        sa.Column("quiet_end", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["photographer_id"], ["photographers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("photographer_id"),
    )
    op.create_table(
        "workflows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photographer_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("gallery_type_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["gallery_type_id"], ["gallery_types.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["photographer_id"], ["photographers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workflows_photographer_id"), ["photographer_id"], unique=False
        )

    op.create_table(
        "gallery_clients",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("photographer_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["photographer_id"], ["photographers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("event_id", "contact_id"),
    )
    with op.batch_alter_table("gallery_clients", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_gallery_clients_photographer_id"), ["photographer_id"], unique=False
        )

    op.create_table(
        "workflow_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photographer_id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("anchor", sa.String(length=20), nullable=False),
        sa.Column("offset_seconds", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=True),
        sa.Column("end_anchor", sa.String(length=20), nullable=True),
        sa.Column("end_offset_seconds", sa.Integer(), nullable=False),
        sa.Column("end_at", sa.DateTime(), nullable=True),
        sa.Column("audience", sa.String(length=20), nullable=False),
        sa.Column("at_send_time", sa.Boolean(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["photographer_id"], ["photographers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workflow_id"], ["workflows.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("workflow_steps", schema=None) as batch_op:
        batch_op.create_index(
            "ix_workflow_steps_workflow", ["workflow_id", "position"], unique=False
        )

    op.create_table(
        "scheduled_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photographer_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("leased_until", sa.DateTime(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("email_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["email_id"], ["outbound_emails.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["photographer_id"], ["photographers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["step_id"], ["workflow_steps.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("scheduled_actions", schema=None) as batch_op:
        batch_op.create_index("ix_scheduled_due", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_scheduled_event", ["event_id", "state"], unique=False)
        batch_op.create_index(
            "ix_scheduled_tenant", ["photographer_id", "created_at"], unique=False
        )

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unsubscribed_at", sa.DateTime(), nullable=True))

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("workflows_off", sa.Boolean(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("workflow_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("client_password", sa.String(length=100), nullable=True))
        batch_op.create_foreign_key(
            "fk_events_workflow_id", "workflows", ["workflow_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_constraint("fk_events_workflow_id", type_="foreignkey")
        batch_op.drop_column("client_password")
        batch_op.drop_column("workflow_id")
        batch_op.drop_column("workflows_off")

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("unsubscribed_at")

    with op.batch_alter_table("scheduled_actions", schema=None) as batch_op:
        batch_op.drop_index("ix_scheduled_tenant")
        batch_op.drop_index("ix_scheduled_event")
        batch_op.drop_index("ix_scheduled_due")

    op.drop_table("scheduled_actions")
    with op.batch_alter_table("workflow_steps", schema=None) as batch_op:
        batch_op.drop_index("ix_workflow_steps_workflow")

    op.drop_table("workflow_steps")
    with op.batch_alter_table("gallery_clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gallery_clients_photographer_id"))

    op.drop_table("gallery_clients")
    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflows_photographer_id"))

    op.drop_table("workflows")
    op.drop_table("sending_rules")
