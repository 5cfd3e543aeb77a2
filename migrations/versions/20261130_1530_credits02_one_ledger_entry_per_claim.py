"""credits: one ledger entry per claim of hours

A claim's hours enter the ledger once: a unique index on the source of external-claim entries
(its corrections and revocations keep the source but are other kinds of entry).

Revision ID: credits02
Revises: progfix01
Create Date: 2026-11-30 15:30:00.000000+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'credits02'
down_revision = 'progfix01'
branch_labels = None
depends_on = None

CLAIM_ENTRY = sa.text("origin = 'external_claim' AND entry_kind = 'completion'")


def upgrade():
    with op.batch_alter_table('credit_record', schema=None) as batch_op:
        batch_op.create_index('uq_credit_record_claim_entry', ['source_type', 'source_id'], unique=True,
                              postgresql_where=CLAIM_ENTRY, sqlite_where=CLAIM_ENTRY)


def downgrade():
    with op.batch_alter_table('credit_record', schema=None) as batch_op:
        batch_op.drop_index('uq_credit_record_claim_entry', postgresql_where=CLAIM_ENTRY,
                            sqlite_where=CLAIM_ENTRY)
