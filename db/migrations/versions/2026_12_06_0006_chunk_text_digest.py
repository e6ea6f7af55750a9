"""Chunks findable by their text's digest within a text model, so a text some file's chunk already holds takes
that stored vector instead of being embedded again (``workers.text_vectors``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 07:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SET lock_timeout = '30s'")
    op.create_index('ix_text_chunks_model_text_md5', 'text_chunks', ['model_id', sa.text('md5(text)')])


def downgrade() -> None:
    op.execute("SET lock_timeout = '30s'")
    op.drop_index('ix_text_chunks_model_text_md5', table_name='text_chunks')
