"""Create the normativas table.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "normativas",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("municipality", sa.String(100), nullable=False),
        sa.Column("municipality_key", sa.String(100), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("number", sa.String(40), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("date", sa.Date, nullable=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("articles", sa.JSON, nullable=False),
        sa.Column("considerandos", sa.JSON, nullable=False),
        sa.Column("tables", sa.JSON, nullable=False),
        sa.Column("digest", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_normativas_type_muni_year", "normativas", ["type", "municipality_key", "year"])
    op.create_index("ix_normativas_muni_year", "normativas", ["municipality_key", "year"])
    op.create_index("ix_normativas_year", "normativas", ["year"])
    op.create_index("ix_normativas_date", "normativas", ["date"])
    op.create_index("ix_normativas_number", "normativas", ["number"])
    op.create_index("ix_normativas_updated_at", "normativas", ["updated_at"])


def downgrade() -> None:
    op.drop_table("normativas")
