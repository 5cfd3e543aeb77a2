"""per-learner credit budget: pending time waits on the lesson's progress, the attention schedule
and the wall-clock allowance travel with the play lease

Revision ID: learning02
Revises: accounts02
Create Date: 2026-11-29 22:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'learning02'
down_revision = 'accounts02'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('lesson_progress', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_seconds', sa.Float(), server_default='0', nullable=False))
    with op.batch_alter_table('play_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('since_check_seconds', sa.Float(), server_default='0', nullable=False))
    # Time a session held back for its attention check moves to the lesson's progress.
    op.execute("UPDATE lesson_progress SET pending_seconds = COALESCE((SELECT SUM(ps.pending_seconds) "
               "FROM play_session ps WHERE ps.progress_id = lesson_progress.id), 0)")
    with op.batch_alter_table('play_session', schema=None) as batch_op:
        batch_op.drop_column('pending_seconds')


def downgrade():
    with op.batch_alter_table('play_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_seconds', sa.Float(), server_default='0', nullable=False))
    with op.batch_alter_table('play_session', schema=None) as batch_op:
        batch_op.drop_column('since_check_seconds')
    with op.batch_alter_table('lesson_progress', schema=None) as batch_op:
        batch_op.drop_column('pending_seconds')
