"""exam pool: an attempt draws fewer questions than the course's pool

Revision ID: exam01
Revises: learning02
Create Date: 2026-11-29 22:15:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'exam01'
down_revision = 'learning02'
branch_labels = None
depends_on = None


def upgrade():
    # NULL: an attempt shows the whole pool, as every course did before this revision.
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exam_attempt_size', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.drop_column('exam_attempt_size')
