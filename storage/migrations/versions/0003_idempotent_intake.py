"""Idempotent intake and resumable batches.

`batches.source_sha256` (unique): what a batch read, so that a second `plico process` or
`plico submit` of the same files finds the batch instead of making another; `batches.owner`
and `batches.heartbeat_at`: the in-process run reading a batch, so that a batch left running
by a dead run is found and finished; `kits.envelope`: the envelope's Codice Assicurata and
pages, so that the same envelope read within another batch is the kit already recorded.

Rows written before: a batch of one input gets that input's hash (the newest such batch
when one file was read several times; the others keep NULL), a kit with a record gets the
envelope of its current record. Batches of several inputs keep NULL (the order of their
inputs is in the object store, not in the index); their kits are still recognised.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.index import envelope_key

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

batches = sa.table("batches", sa.column("id", sa.String), sa.column("created_at", sa.DateTime),
                   sa.column("source_sha256", sa.String))
inputs = sa.table("inputs", sa.column("sha256", sa.String), sa.column("batch_id", sa.String))
kits = sa.table("kits", sa.column("id", sa.String), sa.column("current_version_id", sa.Integer),
                sa.column("envelope", sa.String))
versions = sa.table("record_versions", sa.column("id", sa.Integer),
                    sa.column("record", sa.JSON))


def upgrade() -> None:
    # plain ADD COLUMN and CREATE INDEX: no table is copied (SQLite's batch mode would drop
    # `batches`, which the other tables' foreign keys refer to)
    op.add_column('batches', sa.Column('source_sha256', sa.String(length=64), nullable=True))
    op.add_column('batches', sa.Column('owner', sa.String(length=255), nullable=True))
    op.add_column('batches', sa.Column('heartbeat_at', sa.DateTime(timezone=True),
                                       nullable=True))
    op.create_index(op.f('ix_batches_source_sha256'), 'batches', ['source_sha256'], unique=True)
    op.add_column('kits', sa.Column('envelope', sa.String(length=64), nullable=True))
    op.create_index(op.f('ix_kits_envelope'), 'kits', ['envelope'], unique=False)

    conn = op.get_bind()
    single = (sa.select(inputs.c.batch_id, sa.func.min(inputs.c.sha256))
              .group_by(inputs.c.batch_id).having(sa.func.count() == 1))
    newest: dict[str, tuple] = {}
    for batch_id, sha in conn.execute(single).all():
        created = conn.execute(sa.select(batches.c.created_at)
                               .where(batches.c.id == batch_id)).scalar()
        if sha not in newest or (created, batch_id) > newest[sha]:
            newest[sha] = (created, batch_id)
    for sha, (_, batch_id) in newest.items():
        conn.execute(batches.update().where(batches.c.id == batch_id)
                     .values(source_sha256=sha))
    for kit_id, version_id in conn.execute(
            sa.select(kits.c.id, kits.c.current_version_id)
            .where(kits.c.current_version_id.is_not(None))).all():
        record = conn.execute(sa.select(versions.c.record)
                              .where(versions.c.id == version_id)).scalar() or {}
        kit = record.get("kit") or {}
        pages = [(p["sha256"], p["index"]) for p in kit.get("pages", [])]
        if pages:
            conn.execute(kits.update().where(kits.c.id == kit_id).values(
                envelope=envelope_key(kit.get("assicurata"), pages)))


def downgrade() -> None:
    op.drop_index(op.f('ix_kits_envelope'), table_name='kits')
    op.drop_index(op.f('ix_batches_source_sha256'), table_name='batches')
    with op.batch_alter_table('kits', schema=None) as batch_op:
        batch_op.drop_column('envelope')
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('owner')
        batch_op.drop_column('source_sha256')
