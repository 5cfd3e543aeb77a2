"""inspections: the published document stored once at freeze (and at the draw) with the SHA-256 of
its population and pool; the earliest moment the seed may be revealed

Revision ID: progfix01
Revises: transfer01
Create Date: 2026-11-30 15:45:00+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'progfix01'
down_revision = 'transfer01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('inspection_plan', schema=None) as batch_op:
        batch_op.add_column(sa.Column('document', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('population_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('reveal_after', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('inspection_plan', schema=None) as batch_op:
        batch_op.drop_column('reveal_after')
        batch_op.drop_column('population_sha256')
        batch_op.drop_column('document')
