"""exam attempts reset by an admin

Revision ID: admin01
Revises: notices01
Create Date: 2026-11-30 04:32:22.602513+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'admin01'
down_revision = 'notices01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('quiz_attempt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reset_at', sa.DateTime(), nullable=True))



def downgrade():
    with op.batch_alter_table('quiz_attempt', schema=None) as batch_op:
        batch_op.drop_column('reset_at')

