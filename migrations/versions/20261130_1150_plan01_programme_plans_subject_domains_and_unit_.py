"""programme plans, subject domains and units' supervising departments

Revision ID: plan01
Revises: search01
Create Date: 2026-11-30 11:50:00.000000+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'plan01'
down_revision = 'search01'
branch_labels = None
depends_on = None

# The subjects that have a domain of the plan's own (lms.catalog.services.SUBJECT_DOMAINS).
SUBJECT_DOMAINS = {"digital": "digital", "ip": "ip", "cybersecurity": "cybersecurity", "emergency": "emergency",
                   "rural": "rural", "green": "green"}


def upgrade():
    op.create_table('plan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=8), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=True),
    sa.Column('source_name', sa.String(length=200), nullable=False),
    sa.Column('source_sha256', sa.String(length=64), nullable=False),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.Column('imported_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['imported_by_id'], ['user.id'], name=op.f('fk_plan_imported_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['region_code'], ['region.code'], name=op.f('fk_plan_region_code_region')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan')),
    sa.UniqueConstraint('year', 'scope', name=op.f('uq_plan_year_scope'))
    )
    op.create_table('plan_department',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('subtotal', sa.Numeric(precision=8, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_plan_department_plan_id_plan'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_department')),
    sa.UniqueConstraint('plan_id', 'name', name=op.f('uq_plan_department_plan_id_name'))
    )
    with op.batch_alter_table('plan_department', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_department_plan_id'), ['plan_id'], unique=False)

    op.create_table('plan_target',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('domain', sa.String(length=16), nullable=False),
    sa.Column('target', sa.Numeric(precision=8, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['plan_department.id'], name=op.f('fk_plan_target_department_id_plan_department'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_target')),
    sa.UniqueConstraint('department_id', 'domain', name=op.f('uq_plan_target_department_id_domain'))
    )
    with op.batch_alter_table('plan_target', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_target_department_id'), ['department_id'], unique=False)

    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.add_column(sa.Column('supervising_department', sa.String(length=60), nullable=True))

    with op.batch_alter_table('subject', schema=None) as batch_op:
        batch_op.add_column(sa.Column('domain', sa.String(length=16), server_default='other', nullable=False))
    subject = sa.table('subject', sa.column('code', sa.String), sa.column('domain', sa.String))
    for code, domain in SUBJECT_DOMAINS.items():
        op.execute(subject.update().where(subject.c.code == code).values(domain=domain))


def downgrade():
    with op.batch_alter_table('subject', schema=None) as batch_op:
        batch_op.drop_column('domain')

    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.drop_column('supervising_department')

    with op.batch_alter_table('plan_target', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_target_department_id'))

    op.drop_table('plan_target')
    with op.batch_alter_table('plan_department', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_department_plan_id'))

    op.drop_table('plan_department')
    op.drop_table('plan')
