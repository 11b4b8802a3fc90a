"""Initial schema: batches, inputs, kits, record versions, anomalies, field decisions,
quarantine, jobs, users, audit events.

Revision ID: 0001
Revises: 
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSONB on PostgreSQL, JSON text elsewhere (storage.db.JSONType)
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_name', sa.String(length=120), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('kit_id', sa.String(length=80), nullable=True),
    sa.Column('detail', JSON_TYPE, nullable=False),
    sa.Column('remote', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_kit_id'), ['kit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_user_name'), ['user_name'], unique=False)

    op.create_table('batches',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('kits', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batches'))
    )
    op.create_table('jobs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('batch_id', sa.String(length=64), nullable=True),
    sa.Column('kit_id', sa.String(length=80), nullable=True),
    sa.Column('pipeline_version', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('message_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jobs_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_kit_id'), ['kit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_status'), ['status'], unique=False)

    op.create_table('quarantine',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('batch_id', sa.String(length=64), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('original_name', sa.String(length=255), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('pages', JSON_TYPE, nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantine'))
    )
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantine_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quarantine_sha256'), ['sha256'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('questure', JSON_TYPE, nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('name', name=op.f('uq_users_name'))
    )
    op.create_table('inputs',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('batch_id', sa.String(length=64), nullable=False),
    sa.Column('original_name', sa.String(length=255), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], name=op.f('fk_inputs_batch_id_batches')),
    sa.PrimaryKeyConstraint('sha256', 'batch_id', name=op.f('pk_inputs'))
    )
    op.create_table('kits',
    sa.Column('id', sa.String(length=80), nullable=False),
    sa.Column('batch_id', sa.String(length=64), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('assicurata', sa.String(length=32), nullable=True),
    sa.Column('codice_istanza', sa.String(length=32), nullable=True),
    sa.Column('questura', sa.String(length=2), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('max_severity', sa.String(length=16), nullable=True),
    sa.Column('anomaly_count', sa.Integer(), nullable=False),
    sa.Column('current_version_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], name=op.f('fk_kits_batch_id_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kits'))
    )
    with op.batch_alter_table('kits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kits_assicurata'), ['assicurata'], unique=False)
        batch_op.create_index(batch_op.f('ix_kits_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_kits_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_kits_questura'), ['questura'], unique=False)
        batch_op.create_index(batch_op.f('ix_kits_status'), ['status'], unique=False)

    op.create_table('record_versions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kit_id', sa.String(length=80), nullable=False),
    sa.Column('pipeline_version', sa.String(length=64), nullable=False),
    sa.Column('record', JSON_TYPE, nullable=False),
    sa.Column('record_key', sa.String(length=255), nullable=False),
    sa.Column('record_sha256', sa.String(length=64), nullable=False),
    sa.Column('decisions', JSON_TYPE, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['kit_id'], ['kits.id'], name=op.f('fk_record_versions_kit_id_kits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_record_versions')),
    sa.UniqueConstraint('kit_id', 'pipeline_version', name=op.f('uq_record_versions_kit_id_pipeline_version'))
    )
    with op.batch_alter_table('record_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_record_versions_kit_id'), ['kit_id'], unique=False)

    # kits <-> record_versions refer to each other: the kit's current version comes after both
    with op.batch_alter_table('kits', schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f('fk_kits_current_version_id_record_versions'), 'record_versions',
            ['current_version_id'], ['id'])

    op.create_table('anomalies',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('record_version_id', sa.Integer(), nullable=False),
    sa.Column('kit_id', sa.String(length=80), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('fields', JSON_TYPE, nullable=False),
    sa.Column('pages', JSON_TYPE, nullable=False),
    sa.Column('evidence', JSON_TYPE, nullable=False),
    sa.Column('message_it', sa.Text(), nullable=False),
    sa.Column('message_en', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('resolved_by', sa.String(length=120), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['record_version_id'], ['record_versions.id'], name=op.f('fk_anomalies_record_version_id_record_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_anomalies'))
    )
    with op.batch_alter_table('anomalies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_anomalies_code'), ['code'], unique=False)
        batch_op.create_index(batch_op.f('ix_anomalies_kit_id'), ['kit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_anomalies_record_version_id'), ['record_version_id'], unique=False)

    op.create_table('field_decisions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kit_id', sa.String(length=80), nullable=False),
    sa.Column('field_key', sa.String(length=120), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('value_before', JSON_TYPE, nullable=True),
    sa.Column('value_after', JSON_TYPE, nullable=True),
    sa.Column('user_name', sa.String(length=120), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('record_version_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['kit_id'], ['kits.id'], name=op.f('fk_field_decisions_kit_id_kits')),
    sa.ForeignKeyConstraint(['record_version_id'], ['record_versions.id'], name=op.f('fk_field_decisions_record_version_id_record_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_field_decisions'))
    )
    with op.batch_alter_table('field_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_field_decisions_kit_id'), ['kit_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('kits', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_kits_current_version_id_record_versions'), type_='foreignkey')
    with op.batch_alter_table('field_decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_field_decisions_kit_id'))

    op.drop_table('field_decisions')
    with op.batch_alter_table('anomalies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_anomalies_record_version_id'))
        batch_op.drop_index(batch_op.f('ix_anomalies_kit_id'))
        batch_op.drop_index(batch_op.f('ix_anomalies_code'))

    op.drop_table('anomalies')
    with op.batch_alter_table('record_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_record_versions_kit_id'))

    op.drop_table('record_versions')
    with op.batch_alter_table('kits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kits_status'))
        batch_op.drop_index(batch_op.f('ix_kits_questura'))
        batch_op.drop_index(batch_op.f('ix_kits_created_at'))
        batch_op.drop_index(batch_op.f('ix_kits_batch_id'))
        batch_op.drop_index(batch_op.f('ix_kits_assicurata'))

    op.drop_table('kits')
    op.drop_table('inputs')
    op.drop_table('users')
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantine_sha256'))
        batch_op.drop_index(batch_op.f('ix_quarantine_batch_id'))

    op.drop_table('quarantine')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_status'))
        batch_op.drop_index(batch_op.f('ix_jobs_message_id'))
        batch_op.drop_index(batch_op.f('ix_jobs_kit_id'))
        batch_op.drop_index(batch_op.f('ix_jobs_batch_id'))

    op.drop_table('jobs')
    op.drop_table('batches')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_user_name'))
        batch_op.drop_index(batch_op.f('ix_audit_events_kit_id'))
        batch_op.drop_index(batch_op.f('ix_audit_events_at'))

    op.drop_table('audit_events')
