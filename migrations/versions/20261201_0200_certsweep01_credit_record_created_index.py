"""credits: an index on the ledger's creation time, for the certificate sweep's window of recent
entries (lms/certificates/tasks.py)

Revision ID: certsweep01
Revises: inspcancel01
Create Date: 2026-12-01 02:00:00+00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'certsweep01'
down_revision = 'inspcancel01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('credit_record', schema=None) as batch_op:
        batch_op.create_index('ix_credit_record_created', ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('credit_record', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_record_created')
