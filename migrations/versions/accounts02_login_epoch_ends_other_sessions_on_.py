"""login epoch ends other sessions on password change; unit's note on a rejected employee

Revision ID: accounts02
Revises: records01
Create Date: 2026-11-28 20:23:25.793805

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'accounts02'
down_revision = 'records01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('login_epoch', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('employment_note', sa.String(length=200), nullable=True))



def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('employment_note')
        batch_op.drop_column('login_epoch')

