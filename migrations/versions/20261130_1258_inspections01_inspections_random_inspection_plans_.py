"""inspections: random inspection plans, their frozen populations, pools and draws

Revision ID: inspections01
Revises: claims01
Create Date: 2026-11-30 12:58:44.180005+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'inspections01'
down_revision = 'claims01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('inspection_plan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('scope', sa.String(length=8), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=True),
    sa.Column('population', sa.String(length=16), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('target_count', sa.Integer(), nullable=False),
    sa.Column('inspectors_per_target', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('commitment', sa.String(length=64), nullable=True),
    sa.Column('seed_encrypted', sa.String(length=255), nullable=True),
    sa.Column('seed', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('frozen_at', sa.DateTime(), nullable=True),
    sa.Column('drawn_at', sa.DateTime(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_inspection_plan_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['region_code'], ['region.code'], name=op.f('fk_inspection_plan_region_code_region')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_plan'))
    )
    with op.batch_alter_table('inspection_plan', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_plan_region_code'), ['region_code'], unique=False)

    op.create_table('inspection_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=40), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('ref_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('excluded', sa.JSON(), nullable=False),
    sa.Column('drawn_order', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_inspection_entry_organization_id_organization')),
    sa.ForeignKeyConstraint(['plan_id'], ['inspection_plan.id'], name=op.f('fk_inspection_entry_plan_id_inspection_plan'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_entry')),
    sa.UniqueConstraint('plan_id', 'position', name=op.f('uq_inspection_entry_plan_id_position')),
    sa.UniqueConstraint('plan_id', 'public_id', name=op.f('uq_inspection_entry_plan_id_public_id'))
    )
    with op.batch_alter_table('inspection_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_entry_plan_id'), ['plan_id'], unique=False)

    op.create_table('inspection_pool_member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['inspection_plan.id'], name=op.f('fk_inspection_pool_member_plan_id_inspection_plan'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_inspection_pool_member_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_pool_member')),
    sa.UniqueConstraint('plan_id', 'position', name=op.f('uq_inspection_pool_member_plan_id_position')),
    sa.UniqueConstraint('plan_id', 'user_id', name=op.f('uq_inspection_pool_member_plan_id_user_id'))
    )
    with op.batch_alter_table('inspection_pool_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_pool_member_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_pool_member_user_id'), ['user_id'], unique=False)

    op.create_table('inspection_assignment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('draw_order', sa.Integer(), nullable=False),
    sa.Column('inspector_id', sa.Integer(), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=True),
    sa.Column('notes', sa.String(length=2000), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['entry_id'], ['inspection_entry.id'], name=op.f('fk_inspection_assignment_entry_id_inspection_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['inspector_id'], ['user.id'], name=op.f('fk_inspection_assignment_inspector_id_user')),
    sa.ForeignKeyConstraint(['plan_id'], ['inspection_plan.id'], name=op.f('fk_inspection_assignment_plan_id_inspection_plan'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_assignment')),
    sa.UniqueConstraint('entry_id', 'inspector_id', name=op.f('uq_inspection_assignment_entry_id_inspector_id'))
    )
    with op.batch_alter_table('inspection_assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_assignment_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_assignment_inspector_id'), ['inspector_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_assignment_plan_id'), ['plan_id'], unique=False)



def downgrade():
    with op.batch_alter_table('inspection_assignment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_assignment_plan_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_assignment_inspector_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_assignment_entry_id'))

    op.drop_table('inspection_assignment')
    with op.batch_alter_table('inspection_pool_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_pool_member_user_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_pool_member_plan_id'))

    op.drop_table('inspection_pool_member')
    with op.batch_alter_table('inspection_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_entry_plan_id'))

    op.drop_table('inspection_entry')
    with op.batch_alter_table('inspection_plan', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_plan_region_code'))

    op.drop_table('inspection_plan')
