"""exports: the time of a job's last write (its claim, its progress), so that an export whose
worker died is failed with a message instead of showing as running for ever

Revision ID: exportbeat01
Revises: certsweep01
Create Date: 2026-12-01 03:00:00+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'exportbeat01'
down_revision = 'certsweep01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('export_job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(), nullable=True))
    op.execute("UPDATE export_job SET updated_at = COALESCE(finished_at, started_at, created_at)")


def downgrade():
    with op.batch_alter_table('export_job', schema=None) as batch_op:
        batch_op.drop_column('updated_at')
