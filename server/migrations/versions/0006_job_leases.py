"""job leases: images and emails carry their own retry and lease state

The database owns every piece of pending work (server/reconcile.py): a job claims its row
by setting `leased_until`; a row still leased after that time belonged to a worker that
died, and is taken back. `next_attempt_at` holds the backoff of a failed attempt, and
`attempts` counts the claims, so a job that keeps crashing its worker ends `failed`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 15:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("images") as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("leased_until", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(), nullable=True))
        # Reconcile reads the few rows not yet ready; the index keeps that off the table scan.
        batch_op.create_index("ix_images_state", ["state"])
    with op.batch_alter_table("outbound_emails") as batch_op:
        batch_op.add_column(sa.Column("leased_until", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_outbound_emails_state", ["state"])


def downgrade() -> None:
    with op.batch_alter_table("outbound_emails") as batch_op:
        batch_op.drop_index("ix_outbound_emails_state")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("leased_until")
    with op.batch_alter_table("images") as batch_op:
        batch_op.drop_index("ix_images_state")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("leased_until")
        batch_op.drop_column("attempts")
