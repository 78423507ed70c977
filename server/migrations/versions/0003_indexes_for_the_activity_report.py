"""indexes for the activity report

One index per sortable column of the report, a contact's visits and timeline in order, and
contacts by name: every report page reads an index range, not the table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 11:21:20.769764
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SORTED_VISITS = {
    "ix_visits_tenant_first": "first_at",
    "ix_visits_tenant_favorites": "favorites",
    "ix_visits_tenant_comments": "comments",
    "ix_visits_tenant_single": "single_downloads",
    "ix_visits_tenant_bulk": "bulk_downloads",
}


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch_op:
        batch_op.create_index("ix_contacts_tenant_name", ["photographer_id", "name"])
    with op.batch_alter_table("visits") as batch_op:
        batch_op.create_index("ix_visits_tenant_contact",
                              ["photographer_id", "contact_id", "last_at"])
        for name, column in SORTED_VISITS.items():
            batch_op.create_index(name, ["photographer_id", column])
    with op.batch_alter_table("activity_events") as batch_op:
        batch_op.drop_index("ix_activity_contact")
        batch_op.create_index("ix_activity_contact", ["photographer_id", "contact_id", "seq"])


def downgrade() -> None:
    with op.batch_alter_table("activity_events") as batch_op:
        batch_op.drop_index("ix_activity_contact")
        batch_op.create_index("ix_activity_contact", ["photographer_id", "contact_id"])
    with op.batch_alter_table("visits") as batch_op:
        for name in SORTED_VISITS:
            batch_op.drop_index(name)
        batch_op.drop_index("ix_visits_tenant_contact")
    with op.batch_alter_table("contacts") as batch_op:
        batch_op.drop_index("ix_contacts_tenant_name")
