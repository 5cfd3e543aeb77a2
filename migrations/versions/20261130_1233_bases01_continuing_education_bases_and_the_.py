"""continuing-education bases and the institution directories

Revision ID: bases01
Revises: federation01
Create Date: 2026-11-30 12:33:00.998627+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'bases01'
down_revision = 'federation01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('programme_institution',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('credit_code', sa.String(length=18), nullable=True),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('fields', sa.String(length=300), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['region_code'], ['region.code'], name=op.f('fk_programme_institution_region_code_region')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme_institution')),
    sa.UniqueConstraint('code', name=op.f('uq_programme_institution_code'))
    )
    with op.batch_alter_table('programme_institution', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_programme_institution_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_programme_institution_region_code'), ['region_code'], unique=False)

    op.create_table('programme_institution_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['programme_institution.id'], name=op.f('fk_programme_institution_change_institution_id_programme_institution')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme_institution_change'))
    )
    with op.batch_alter_table('programme_institution_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_programme_institution_change_institution_id'), ['institution_id'], unique=False)

    op.create_table('ce_base',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=True),
    sa.Column('recognised_on', sa.Date(), nullable=False),
    sa.Column('document_number', sa.String(length=60), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('withdrawn_on', sa.Date(), nullable=True),
    sa.Column('withdrawal_reason', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_ce_base_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_ce_base_organization_id_organization')),
    sa.ForeignKeyConstraint(['region_code'], ['region.code'], name=op.f('fk_ce_base_region_code_region')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ce_base')),
    sa.UniqueConstraint('organization_id', name=op.f('uq_ce_base_organization_id'))
    )
    with op.batch_alter_table('ce_base', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ce_base_region_code'), ['region_code'], unique=False)

    op.create_table('ce_base_evaluation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('base_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('score', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('evaluator', sa.String(length=100), nullable=False),
    sa.Column('evaluated_on', sa.Date(), nullable=False),
    sa.Column('note', sa.String(length=1000), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['base_id'], ['ce_base.id'], name=op.f('fk_ce_base_evaluation_base_id_ce_base')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user.id'], name=op.f('fk_ce_base_evaluation_recorded_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ce_base_evaluation')),
    sa.UniqueConstraint('base_id', 'year', name=op.f('uq_ce_base_evaluation_base_id_year'))
    )
    with op.batch_alter_table('ce_base_evaluation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ce_base_evaluation_base_id'), ['base_id'], unique=False)

    op.create_table('ce_base_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('base_id', sa.Integer(), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=True),
    sa.Column('year', sa.Integer(), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['base_id'], ['ce_base.id'], name=op.f('fk_ce_base_event_base_id_ce_base')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ce_base_event'))
    )
    with op.batch_alter_table('ce_base_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ce_base_event_base_id'), ['base_id'], unique=False)

    op.create_table('ce_base_attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('evaluation_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['evaluation_id'], ['ce_base_evaluation.id'], name=op.f('fk_ce_base_attachment_evaluation_id_ce_base_evaluation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ce_base_attachment'))
    )
    with op.batch_alter_table('ce_base_attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ce_base_attachment_evaluation_id'), ['evaluation_id'], unique=False)



def downgrade():
    with op.batch_alter_table('ce_base_attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ce_base_attachment_evaluation_id'))

    op.drop_table('ce_base_attachment')
    with op.batch_alter_table('ce_base_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ce_base_event_base_id'))

    op.drop_table('ce_base_event')
    with op.batch_alter_table('ce_base_evaluation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ce_base_evaluation_base_id'))

    op.drop_table('ce_base_evaluation')
    with op.batch_alter_table('ce_base', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ce_base_region_code'))

    op.drop_table('ce_base')
    with op.batch_alter_table('programme_institution_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_programme_institution_change_institution_id'))

    op.drop_table('programme_institution_change')
    with op.batch_alter_table('programme_institution', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_programme_institution_region_code'))
        batch_op.drop_index(batch_op.f('ix_programme_institution_name'))

    op.drop_table('programme_institution')
