"""studio brand: the photographer's logo, accent colour, cover typeface and public contact

One JSON value on photographers (server/brand.py reads and writes it); '{}' is the
default look (the personal or studio name, no logo, the app's green).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 05:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("photographers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("brand", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("photographers", schema=None) as batch_op:
        batch_op.drop_column("brand")
