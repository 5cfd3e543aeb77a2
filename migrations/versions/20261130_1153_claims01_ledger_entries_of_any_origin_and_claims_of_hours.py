"""claims: ledger entries of any origin, and claims of hours earned elsewhere

A ledger entry says where its hours came from (origin, activity kind, source) and needs no local
course; existing rows are online-course completions. Claims (学时登记) with evidence and review steps;
rule sets cap claimed hours per kind and year and may ask the region to confirm.

Revision ID: claims01
Revises: bases01
Create Date: 2026-11-30 11:53:22.542478+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'claims01'
down_revision = 'bases01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('hour_claim',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('activity_date', sa.Date(), nullable=False),
    sa.Column('hours_claimed', sa.Numeric(precision=4, scale=1), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('region_code', sa.String(length=6), nullable=True),
    sa.Column('hours_approved', sa.Numeric(precision=4, scale=1), nullable=True),
    sa.Column('hours_credited', sa.Numeric(precision=4, scale=1), nullable=True),
    sa.Column('credit_record_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['credit_record_id'], ['credit_record.id'], name=op.f('fk_hour_claim_credit_record_id_credit_record')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_hour_claim_organization_id_organization')),
    sa.ForeignKeyConstraint(['region_code'], ['region.code'], name=op.f('fk_hour_claim_region_code_region')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_hour_claim_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hour_claim'))
    )
    with op.batch_alter_table('hour_claim', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hour_claim_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_hour_claim_region_code'), ['region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_hour_claim_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_hour_claim_user_id'), ['user_id'], unique=False)

    op.create_table('hour_claim_evidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('original_name', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['hour_claim.id'], name=op.f('fk_hour_claim_evidence_claim_id_hour_claim')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hour_claim_evidence'))
    )
    with op.batch_alter_table('hour_claim_evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hour_claim_evidence_claim_id'), ['claim_id'], unique=False)

    op.create_table('hour_claim_step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('hours', sa.Numeric(precision=4, scale=1), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_hour_claim_step_actor_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['claim_id'], ['hour_claim.id'], name=op.f('fk_hour_claim_step_claim_id_hour_claim')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hour_claim_step'))
    )
    with op.batch_alter_table('hour_claim_step', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hour_claim_step_claim_id'), ['claim_id'], unique=False)

    with op.batch_alter_table('credit_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin', sa.String(length=16), server_default='online_course', nullable=False))
        batch_op.add_column(sa.Column('activity_kind', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('source_type', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('source_id', sa.String(length=64), nullable=True))
        batch_op.alter_column('course_id',
               existing_type=sa.INTEGER(),
               nullable=True)
        batch_op.alter_column('course_code',
               existing_type=sa.VARCHAR(length=32),
               nullable=True)
        batch_op.alter_column('course_version',
               existing_type=sa.INTEGER(),
               nullable=True)
        batch_op.create_index('ix_credit_record_source', ['source_type', 'source_id'], unique=False)

    with op.batch_alter_table('rule_set', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_caps', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('claim_year_cap_hours', sa.Numeric(precision=5, scale=1), nullable=True))
        batch_op.add_column(sa.Column('claims_need_region', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('hour_claim_step', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hour_claim_step_claim_id'))

    op.drop_table('hour_claim_step')
    with op.batch_alter_table('hour_claim_evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hour_claim_evidence_claim_id'))

    op.drop_table('hour_claim_evidence')
    with op.batch_alter_table('hour_claim', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hour_claim_user_id'))
        batch_op.drop_index(batch_op.f('ix_hour_claim_status'))
        batch_op.drop_index(batch_op.f('ix_hour_claim_region_code'))
        batch_op.drop_index(batch_op.f('ix_hour_claim_organization_id'))

    op.drop_table('hour_claim')

    # Entries without a local course cannot exist before this revision: they (and the corrections
    # and revocations that void them, which have no course either) go with it.
    op.execute("DELETE FROM credit_record WHERE course_id IS NULL")

    with op.batch_alter_table('rule_set', schema=None) as batch_op:
        batch_op.drop_column('claims_need_region')
        batch_op.drop_column('claim_year_cap_hours')
        batch_op.drop_column('claim_caps')

    with op.batch_alter_table('credit_record', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_record_source')
        batch_op.alter_column('course_version',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.alter_column('course_code',
               existing_type=sa.VARCHAR(length=32),
               nullable=False)
        batch_op.alter_column('course_id',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.drop_column('source_id')
        batch_op.drop_column('source_type')
        batch_op.drop_column('activity_kind')
        batch_op.drop_column('origin')
