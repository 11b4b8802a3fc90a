"""Data only: every kit's status, anomaly_count and max_severity recomputed with the one rule of
storage/status.py. Before it, a kit read clean stayed `da_verificare` (never in the queue,
orange in the status lookup), a reprocessed kit kept its old status, and anomaly_count counted
closed anomalies too when the index wrote it. The queue now lists every kit that is not
verificata, so rows written under the old rules are brought in step here, once.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.status import summarise

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

kits = sa.table("kits", sa.column("id", sa.String), sa.column("current_version_id", sa.Integer),
                sa.column("status", sa.String), sa.column("anomaly_count", sa.Integer),
                sa.column("max_severity", sa.String))
versions = sa.table("record_versions", sa.column("id", sa.Integer),
                    sa.column("decisions", sa.JSON), sa.column("record", sa.JSON))
anomalies = sa.table("anomalies", sa.column("record_version_id", sa.Integer),
                     sa.column("status", sa.String), sa.column("severity", sa.String))
decisions = sa.table("field_decisions", sa.column("kit_id", sa.String),
                     sa.column("field_key", sa.String), sa.column("record_version_id", sa.Integer))


def upgrade() -> None:
    conn = op.get_bind()
    for kit_id, version_id in conn.execute(
            sa.select(kits.c.id, kits.c.current_version_id)
            .where(kits.c.current_version_id.is_not(None))).all():
        done = conn.execute(sa.select(versions.c.decisions)
                            .where(versions.c.id == version_id)).scalar() or {}
        rows = conn.execute(sa.select(anomalies.c.status, anomalies.c.severity)
                            .where(anomalies.c.record_version_id == version_id)).all()
        taken = conn.execute(sa.select(decisions.c.field_key).where(
            decisions.c.kit_id == kit_id, decisions.c.record_version_id == version_id)).scalars()
        flagged = done.get("flagged", [])
        fields = None
        if flagged:
            record = conn.execute(sa.select(versions.c.record)
                                  .where(versions.c.id == version_id)).scalar() or {}
            fields = record.get("fields", {})
        summary = summarise(rows, in_force={*done.get("applied", []), *taken}, flagged=flagged,
                            fields=fields)
        conn.execute(kits.update().where(kits.c.id == kit_id).values(
            status=summary.status, anomaly_count=summary.anomaly_count,
            max_severity=summary.max_severity))


def downgrade() -> None:
    """Nothing to undo: the columns are derived from the anomaly rows and decisions."""
