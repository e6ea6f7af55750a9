"""Text channels: per-channel status, timed text segments (full-text indexed) and embedded text chunks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 06:24:41.989837
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


CHANNEL = postgresql.ENUM('frames', 'subtitles', 'speech', 'ocr', name='channel', create_type=False)
CHANNEL_STATUS = postgresql.ENUM('done', 'failed', 'skipped', name='channel_status', create_type=False)


def upgrade() -> None:
    op.execute("SET lock_timeout = '30s'")
    CHANNEL.create(op.get_bind(), checkfirst=True)
    CHANNEL_STATUS.create(op.get_bind(), checkfirst=True)
    op.create_table('media_channels',
    sa.Column('media_id', sa.Integer(), nullable=False),
    sa.Column('channel', CHANNEL, nullable=False),
    sa.Column('status', CHANNEL_STATUS, nullable=False),
    sa.Column('producer', sa.Text(), nullable=True),
    sa.Column('item_count', sa.Integer(), nullable=False),
    sa.Column('error_reason', sa.Text(), nullable=True),
    sa.Column('error_hint', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['media_id'], ['media_files.id'], name=op.f('fk_media_channels_media_id_media_files'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('media_id', 'channel', name=op.f('pk_media_channels'))
    )
    op.create_table('text_chunks',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('media_id', sa.Integer(), nullable=False),
    sa.Column('channel', CHANNEL, nullable=False),
    sa.Column('start_s', sa.Float(), nullable=False),
    sa.Column('end_s', sa.Float(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('embedding', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['media_id'], ['media_files.id'], name=op.f('fk_text_chunks_media_id_media_files'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_id'], ['embedding_models.id'], name=op.f('fk_text_chunks_model_id_embedding_models'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_text_chunks'))
    )
    op.create_index('ix_text_chunks_media_id', 'text_chunks', ['media_id'], unique=False)
    op.create_table('text_segments',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('media_id', sa.Integer(), nullable=False),
    sa.Column('channel', CHANNEL, nullable=False),
    sa.Column('start_s', sa.Float(), nullable=False),
    sa.Column('end_s', sa.Float(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('tsv', postgresql.TSVECTOR(), sa.Computed("to_tsvector('english', text)", persisted=True), nullable=False),
    sa.ForeignKeyConstraint(['media_id'], ['media_files.id'], name=op.f('fk_text_segments_media_id_media_files'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_text_segments'))
    )
    op.create_index('ix_text_segments_media_id_start_s', 'text_segments', ['media_id', 'start_s'], unique=False)
    op.create_index('ix_text_segments_tsv', 'text_segments', ['tsv'], unique=False, postgresql_using='gin')
    op.add_column('media_files', sa.Column('text_model_id', sa.Integer(), nullable=True))
    op.add_column('media_files', sa.Column('channels_key', sa.Text(), nullable=True))
    op.create_foreign_key(op.f('fk_media_files_text_model_id_embedding_models'), 'media_files', 'embedding_models', ['text_model_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    op.drop_constraint(op.f('fk_media_files_text_model_id_embedding_models'), 'media_files', type_='foreignkey')
    op.drop_column('media_files', 'channels_key')
    op.drop_column('media_files', 'text_model_id')
    op.drop_index('ix_text_segments_tsv', table_name='text_segments', postgresql_using='gin')
    op.drop_index('ix_text_segments_media_id_start_s', table_name='text_segments')
    op.drop_table('text_segments')
    op.drop_index('ix_text_chunks_media_id', table_name='text_chunks')
    op.drop_table('text_chunks')
    op.drop_table('media_channels')
    CHANNEL_STATUS.drop(op.get_bind(), checkfirst=True)
    CHANNEL.drop(op.get_bind(), checkfirst=True)
