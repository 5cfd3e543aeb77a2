"""seminars and classes, applications, sessions, attendance; title level

Revision ID: classes01
Revises: inspections01
Create Date: 2026-11-30 14:59:24.245727+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'classes01'
down_revision = 'inspections01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('class_programme',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('domain', sa.String(length=60), nullable=False),
    sa.Column('place', sa.String(length=120), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('quota', sa.Integer(), nullable=False),
    sa.Column('min_title_level', sa.String(length=16), nullable=True),
    sa.Column('required_percent', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_class_programme_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_class_programme_organization_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_class_programme'))
    )
    with op.batch_alter_table('class_programme', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_class_programme_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_class_programme_status'), ['status'], unique=False)

    op.create_table('class_application',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('statement', sa.Text(), nullable=False),
    sa.Column('priority_groups', sa.String(length=80), nullable=False),
    sa.Column('title_level', sa.String(length=16), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_class_application_decided_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['programme_id'], ['class_programme.id'], name=op.f('fk_class_application_programme_id_class_programme')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_class_application_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_class_application')),
    sa.UniqueConstraint('programme_id', 'user_id', name=op.f('uq_class_application_programme_id_user_id'))
    )
    with op.batch_alter_table('class_application', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_class_application_programme_id'), ['programme_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_class_application_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_class_application_user_id'), ['user_id'], unique=False)

    op.create_table('class_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('hours', sa.Numeric(precision=4, scale=1), nullable=False),
    sa.ForeignKeyConstraint(['programme_id'], ['class_programme.id'], name=op.f('fk_class_session_programme_id_class_programme')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_class_session'))
    )
    with op.batch_alter_table('class_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_class_session_programme_id'), ['programme_id'], unique=False)

    op.create_table('class_attendance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('credit_record_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['credit_record_id'], ['credit_record.id'], name=op.f('fk_class_attendance_credit_record_id_credit_record')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user.id'], name=op.f('fk_class_attendance_recorded_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['class_session.id'], name=op.f('fk_class_attendance_session_id_class_session')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_class_attendance_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_class_attendance')),
    sa.UniqueConstraint('session_id', 'user_id', name=op.f('uq_class_attendance_session_id_user_id'))
    )
    with op.batch_alter_table('class_attendance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_class_attendance_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_class_attendance_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('title_level', sa.String(length=16), nullable=True))



def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('title_level')

    with op.batch_alter_table('class_attendance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_class_attendance_user_id'))
        batch_op.drop_index(batch_op.f('ix_class_attendance_session_id'))

    op.drop_table('class_attendance')
    with op.batch_alter_table('class_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_class_session_programme_id'))

    op.drop_table('class_session')
    with op.batch_alter_table('class_application', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_class_application_user_id'))
        batch_op.drop_index(batch_op.f('ix_class_application_status'))
        batch_op.drop_index(batch_op.f('ix_class_application_programme_id'))

    op.drop_table('class_application')
    with op.batch_alter_table('class_programme', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_class_programme_status'))
        batch_op.drop_index(batch_op.f('ix_class_programme_organization_id'))

    op.drop_table('class_programme')
