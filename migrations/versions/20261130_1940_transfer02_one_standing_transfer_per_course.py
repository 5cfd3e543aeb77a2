"""transfer: one standing transfer per course, one ledger entry per transfer

A learner's course counts once whichever issuer certified it: a unique index on the learner and
course code of accepted transfers (voided ones may repeat). A transfer's hours enter the ledger once:
a unique index on the source of transferred entries (their corrections and revocations keep the
source but are other kinds of entry). Both back the checks made under the ledger's lock.

Revision ID: transfer02
Revises: classes02
Create Date: 2026-11-30 19:40:00.000000+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'transfer02'
down_revision = 'classes02'
branch_labels = None
depends_on = None

TRANSFER_ENTRY = sa.text("origin = 'transferred' AND entry_kind = 'completion'")
STANDING = sa.text("status = 'accepted'")


def upgrade():
    with op.batch_alter_table('credit_record', schema=None) as batch_op:
        batch_op.create_index('uq_credit_record_transfer_entry', ['source_type', 'source_id'], unique=True,
                              postgresql_where=TRANSFER_ENTRY, sqlite_where=TRANSFER_ENTRY)
    with op.batch_alter_table('credit_transfer', schema=None) as batch_op:
        batch_op.create_index('uq_credit_transfer_standing_course', ['user_id', 'course_code'], unique=True,
                              postgresql_where=STANDING, sqlite_where=STANDING)


def downgrade():
    with op.batch_alter_table('credit_transfer', schema=None) as batch_op:
        batch_op.drop_index('uq_credit_transfer_standing_course', postgresql_where=STANDING, sqlite_where=STANDING)
    with op.batch_alter_table('credit_record', schema=None) as batch_op:
        batch_op.drop_index('uq_credit_record_transfer_entry', postgresql_where=TRANSFER_ENTRY,
                            sqlite_where=TRANSFER_ENTRY)
