"""certificates: one course certificate per learner and course

Course certificates are now issued by a job after the completion's ledger transaction commits (and
by a sweep for jobs that were lost), so two issuers may meet: a unique index on the learner and
course code of course certificates backs the check made under the number sequence's lock.

Revision ID: certqueue01
Revises: transfer02
Create Date: 2026-11-30 23:00:00.000000+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'certqueue01'
down_revision = 'transfer02'
branch_labels = None
depends_on = None

COURSE = sa.text("kind = 'course'")


def upgrade():
    with op.batch_alter_table('certificate', schema=None) as batch_op:
        batch_op.create_index('uq_certificate_course', ['user_id', 'course_code'], unique=True,
                              postgresql_where=COURSE, sqlite_where=COURSE)


def downgrade():
    with op.batch_alter_table('certificate', schema=None) as batch_op:
        batch_op.drop_index('uq_certificate_course', postgresql_where=COURSE, sqlite_where=COURSE)
