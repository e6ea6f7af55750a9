"""Why an index run stopped early (Ctrl-C, a signal, the database gone, the process found dead), so that
`scenedex status` can say it after the terminal that ran it is closed; null for runs that finished.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SET lock_timeout = '30s'")
    op.add_column('index_runs', sa.Column('reason', sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute("SET lock_timeout = '30s'")
    op.drop_column('index_runs', 'reason')
