"""download sizes: the photographer allows a set of sizes, the client picks one

events.download_sizes: a comma list of original | high | web (server/downloads.py SIZES),
filled from the single download_size each gallery had (original or web). download_size
stays as the legacy value.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 10:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("download_sizes", sa.String(length=40), nullable=False,
                                   server_default="original"))
    op.execute("UPDATE events SET download_sizes = 'web' WHERE download_size = 'web'")


def downgrade() -> None:
    # The legacy column holds what an older Proofroom reads: the largest size allowed.
    op.execute("UPDATE events SET download_size = CASE WHEN download_sizes = 'web' "
               "THEN 'web' ELSE 'original' END")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("download_sizes")
