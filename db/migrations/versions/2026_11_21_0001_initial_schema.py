"""Initial schema: library roots, media files, shots, sampled frames, embedding models, index runs.

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 05:56:51.803494
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('embedding_models',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('family', sa.String(length=32), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('revision', sa.String(length=64), nullable=False),
    sa.Column('embed_dim', sa.Integer(), nullable=False),
    sa.Column('feature_dim', sa.Integer(), nullable=False),
    sa.Column('grid_k', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_embedding_models')),
    sa.UniqueConstraint('key', name=op.f('uq_embedding_models_key'))
    )
    op.create_table('index_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('command', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('indexed', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('removed', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_index_runs'))
    )
    op.create_table('library_roots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_library_roots')),
    sa.UniqueConstraint('path', name=op.f('uq_library_roots_path'))
    )
    op.create_table('media_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('root_id', sa.Integer(), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('mtime_ns', sa.BigInteger(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=True),
    sa.Column('status', sa.Enum('pending', 'indexed', 'failed', 'skipped', name='media_status'), nullable=False),
    sa.Column('error_reason', sa.Text(), nullable=True),
    sa.Column('error_hint', sa.Text(), nullable=True),
    sa.Column('error_detail', sa.Text(), nullable=True),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.Column('container', sa.String(length=64), nullable=True),
    sa.Column('streams', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('video_stream_index', sa.Integer(), nullable=True),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('fps', sa.Float(), nullable=True),
    sa.Column('rotation_deg', sa.Integer(), nullable=True),
    sa.Column('is_vfr', sa.Boolean(), nullable=True),
    sa.Column('sample_fps', sa.Float(), nullable=True),
    sa.Column('embedding_model_id', sa.Integer(), nullable=True),
    sa.Column('sampling_key', sa.Text(), nullable=True),
    sa.Column('indexed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['embedding_model_id'], ['embedding_models.id'], name=op.f('fk_media_files_embedding_model_id_embedding_models'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['root_id'], ['library_roots.id'], name=op.f('fk_media_files_root_id_library_roots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_media_files')),
    sa.UniqueConstraint('path', name=op.f('uq_media_files_path'))
    )
    op.create_index(op.f('ix_media_files_root_id'), 'media_files', ['root_id'], unique=False)
    op.create_index(op.f('ix_media_files_status'), 'media_files', ['status'], unique=False)
    op.create_table('shots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('media_id', sa.Integer(), nullable=False),
    sa.Column('shot_index', sa.Integer(), nullable=False),
    sa.Column('start_s', sa.Float(), nullable=False),
    sa.Column('end_s', sa.Float(), nullable=False),
    sa.Column('representative_frame_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['media_id'], ['media_files.id'], name=op.f('fk_shots_media_id_media_files'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shots')),
    sa.UniqueConstraint('media_id', 'shot_index', name=op.f('uq_shots_media_id'))
    )
    op.create_table('frames',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('media_id', sa.Integer(), nullable=False),
    sa.Column('t_s', sa.Float(), nullable=False),
    sa.Column('shot_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['media_id'], ['media_files.id'], name=op.f('fk_frames_media_id_media_files'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shot_id'], ['shots.id'], name=op.f('fk_frames_shot_id_shots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_frames')),
    sa.UniqueConstraint('media_id', 't_s', name=op.f('uq_frames_media_id'))
    )
    op.create_index('ix_frames_shot_id', 'frames', ['shot_id'], unique=False)
    # shots <-> frames reference each other: the shot's representative frame is added once both exist.
    op.create_foreign_key(op.f('fk_shots_representative_frame_id_frames'), 'shots', 'frames',
                          ['representative_frame_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    op.drop_constraint(op.f('fk_shots_representative_frame_id_frames'), 'shots', type_='foreignkey')
    op.drop_index('ix_frames_shot_id', table_name='frames')
    op.drop_table('frames')
    op.drop_table('shots')
    op.drop_index(op.f('ix_media_files_status'), table_name='media_files')
    op.drop_index(op.f('ix_media_files_root_id'), table_name='media_files')
    op.drop_table('media_files')
    op.drop_table('library_roots')
    op.drop_table('index_runs')
    op.drop_table('embedding_models')
    sa.Enum(name='media_status').drop(op.get_bind(), checkfirst=True)
