"""annual summary states the yearly requirement

Revision ID: certificates01
Revises: locale01
Create Date: 2026-11-30 04:32:56.878490+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'certificates01'
down_revision = 'locale01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('certificate', schema=None) as batch_op:
        batch_op.add_column(sa.Column('target_note', sa.String(length=200), nullable=True))



def downgrade():
    with op.batch_alter_table('certificate', schema=None) as batch_op:
        batch_op.drop_column('target_note')

