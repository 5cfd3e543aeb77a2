"""inspections: a plan cancelled by its office before it closes, with the date and the reason
(published with the plan once it was frozen)

Revision ID: inspcancel01
Revises: progattack01
Create Date: 2026-11-30 23:30:00+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'inspcancel01'
down_revision = 'progattack01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('inspection_plan', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancelled_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('cancel_reason', sa.String(length=500), nullable=True))


def downgrade():
    with op.batch_alter_table('inspection_plan', schema=None) as batch_op:
        batch_op.drop_column('cancel_reason')
        batch_op.drop_column('cancelled_at')
