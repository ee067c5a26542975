"""Covering indexes for the common metadata questions (per municipality by type, status or date) and
for status.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_normativas_status", "normativas", ["status"])
    op.create_index("ix_normativas_muni_type_date", "normativas", ["municipality_key", "type", "date"])
    op.create_index("ix_normativas_muni_type_status", "normativas", ["municipality_key", "type", "status"])


def downgrade() -> None:
    op.drop_index("ix_normativas_muni_type_status", table_name="normativas")
    op.drop_index("ix_normativas_muni_type_date", table_name="normativas")
    op.drop_index("ix_normativas_status", table_name="normativas")
