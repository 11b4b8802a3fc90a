"""Review claims and optimistic versioning of reviewers' decisions.

`kits.claimed_by` / `kits.claimed_at`: the reviewer who took the istanza ("presa in carico")
and since when (a claim lapses after PLICO_CLAIM_MINUTES without a decision);
`kits.review_version`: bumped by every decision, sent back with the next one, so that a
decision taken on a stale page is refused (HTTP 409) instead of overwriting another's.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('kits', sa.Column('claimed_by', sa.String(length=120), nullable=True))
    op.add_column('kits', sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('kits', sa.Column('review_version', sa.Integer(), nullable=False,
                                    server_default='0'))
    op.create_index(op.f('ix_kits_claimed_by'), 'kits', ['claimed_by'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_kits_claimed_by'), table_name='kits')
    with op.batch_alter_table('kits', schema=None) as batch_op:
        batch_op.drop_column('review_version')
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('claimed_by')
