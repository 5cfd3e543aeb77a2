"""classes: one ledger entry per attendance

An attendance's hours enter the ledger once: a unique index on the source of class-attendance entries
(as for claims: corrections and revocations keep the source but are other kinds of entry).

Revision ID: classes02
Revises: classcredit01
Create Date: 2026-11-30 19:40:00.000000+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'classes02'
down_revision = 'classcredit01'
branch_labels = None
depends_on = None

ATTENDANCE_ENTRY = sa.text("source_type = 'class_attendance' AND entry_kind = 'completion'")


def upgrade():
    with op.batch_alter_table('credit_record', schema=None) as batch_op:
        batch_op.create_index('uq_credit_record_attendance_entry', ['source_type', 'source_id'], unique=True,
                              postgresql_where=ATTENDANCE_ENTRY, sqlite_where=ATTENDANCE_ENTRY)


def downgrade():
    with op.batch_alter_table('credit_record', schema=None) as batch_op:
        batch_op.drop_index('uq_credit_record_attendance_entry', postgresql_where=ATTENDANCE_ENTRY,
                            sqlite_where=ATTENDANCE_ENTRY)
