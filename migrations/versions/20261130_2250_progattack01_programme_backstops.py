"""programme office: unique indexes behind the checks made under locks

A base is withdrawn once (one ``withdrawn`` line in its history); an institution is listed once per
kind, by name and by credit code; one open (frozen or drawn) inspection plan per scope, population
and year; a plan is drawn once (its targets' draw order is unique within it). Each backs a check
the service makes under a lock, so that a race the lock misses fails instead of doubling.

Revision ID: progattack01
Revises: media01
Create Date: 2026-11-30 22:50:00.000000+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'progattack01'
down_revision = 'media01'
branch_labels = None
depends_on = None

WITHDRAWN = sa.text("kind = 'withdrawn'")
OPEN = sa.text("status IN ('frozen', 'drawn')")


def upgrade():
    with op.batch_alter_table('ce_base_event', schema=None) as batch_op:
        batch_op.create_index('uq_ce_base_event_withdrawn', ['base_id'], unique=True,
                              postgresql_where=WITHDRAWN, sqlite_where=WITHDRAWN)
    with op.batch_alter_table('programme_institution', schema=None) as batch_op:
        batch_op.create_index('uq_programme_institution_kind_name', ['kind', 'name'], unique=True)
        batch_op.create_index('uq_programme_institution_kind_credit_code', ['kind', 'credit_code'], unique=True)
    with op.batch_alter_table('inspection_plan', schema=None) as batch_op:
        batch_op.create_index('uq_inspection_plan_open', ['scope', 'population', 'year'], unique=True,
                              postgresql_where=OPEN, sqlite_where=OPEN)
    with op.batch_alter_table('inspection_entry', schema=None) as batch_op:
        batch_op.create_index('uq_inspection_entry_drawn_order', ['plan_id', 'drawn_order'], unique=True)


def downgrade():
    with op.batch_alter_table('inspection_entry', schema=None) as batch_op:
        batch_op.drop_index('uq_inspection_entry_drawn_order')
    with op.batch_alter_table('inspection_plan', schema=None) as batch_op:
        batch_op.drop_index('uq_inspection_plan_open', postgresql_where=OPEN, sqlite_where=OPEN)
    with op.batch_alter_table('programme_institution', schema=None) as batch_op:
        batch_op.drop_index('uq_programme_institution_kind_credit_code')
        batch_op.drop_index('uq_programme_institution_kind_name')
    with op.batch_alter_table('ce_base_event', schema=None) as batch_op:
        batch_op.drop_index('uq_ce_base_event_withdrawn', postgresql_where=WITHDRAWN, sqlite_where=WITHDRAWN)
