"""Which file a media row's name pointed at when it was indexed (ctime and inode), so that a file replaced by
another of the same size and modification time is noticed; nullable: rows indexed before are checked by
size and modification time until they are next indexed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 06:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SET lock_timeout = '30s'")
    op.add_column('media_files', sa.Column('ctime_ns', sa.BigInteger(), nullable=True))
    op.add_column('media_files', sa.Column('inode', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.execute("SET lock_timeout = '30s'")
    op.drop_column('media_files', 'inode')
    op.drop_column('media_files', 'ctime_ns')
