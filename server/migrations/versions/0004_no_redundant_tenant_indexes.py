"""no redundant tenant indexes

visits and activity_events are read through composite indexes that lead with
photographer_id (0003, and the unique (photographer_id, seq)); their single-column
photographer_id indexes served no query and cost every insert (each client action appends
an event) one more b-tree write.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 16:10:00
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

REDUNDANT = {"visits": "ix_visits_photographer_id",
             "activity_events": "ix_activity_events_photographer_id"}


def upgrade() -> None:
    for table, index in REDUNDANT.items():
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_index(index)


def downgrade() -> None:
    for table, index in REDUNDANT.items():
        with op.batch_alter_table(table) as batch_op:
            batch_op.create_index(index, ["photographer_id"])
