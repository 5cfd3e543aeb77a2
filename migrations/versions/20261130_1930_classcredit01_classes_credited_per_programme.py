"""classcredit01: rule sets may credit seminars and classes once per programme

``rule_set.class_credit`` ("session", the default, or "programme"), and one ledger entry per learner
and programme where a rule set credits per programme (a unique index on the source of those entries).

Revision ID: classcredit01
Revises: credits02
Create Date: 2026-11-30 19:30:00.000000+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'classcredit01'
down_revision = 'credits02'
branch_labels = None
depends_on = None

PROGRAMME_ENTRY = sa.text("source_type = 'class_programme' AND entry_kind = 'completion'")


def upgrade():
    with op.batch_alter_table('rule_set', schema=None) as batch_op:
        batch_op.add_column(sa.Column('class_credit', sa.String(length=16), server_default='session',
                                      nullable=False))
    with op.batch_alter_table('credit_record', schema=None) as batch_op:
        batch_op.create_index('uq_credit_record_programme_entry', ['source_type', 'source_id'], unique=True,
                              postgresql_where=PROGRAMME_ENTRY, sqlite_where=PROGRAMME_ENTRY)


def downgrade():
    with op.batch_alter_table('credit_record', schema=None) as batch_op:
        batch_op.drop_index('uq_credit_record_programme_entry', postgresql_where=PROGRAMME_ENTRY,
                            sqlite_where=PROGRAMME_ENTRY)
    with op.batch_alter_table('rule_set', schema=None) as batch_op:
        batch_op.drop_column('class_credit')
