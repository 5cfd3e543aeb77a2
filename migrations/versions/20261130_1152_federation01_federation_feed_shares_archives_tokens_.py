"""federation feed shares archives tokens subscriptions entries course origins

Revision ID: federation01
Revises: plan01
Create Date: 2026-11-30 11:52:17.662041+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'federation01'
down_revision = 'plan01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('federation_share',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('shared_by_id', sa.Integer(), nullable=True),
    sa.Column('shared_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['shared_by_id'], ['user.id'], name=op.f('fk_federation_share_shared_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_federation_share')),
    sa.UniqueConstraint('code', name=op.f('uq_federation_share_code'))
    )
    op.create_table('federation_subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('feed_url', sa.String(length=512), nullable=False),
    sa.Column('origin', sa.String(length=255), nullable=False),
    sa.Column('instance_name', sa.String(length=120), nullable=False),
    sa.Column('token_encrypted', sa.Text(), nullable=False),
    sa.Column('publish_at_once', sa.Boolean(), nullable=False),
    sa.Column('pinned_keys', sa.JSON(), nullable=False),
    sa.Column('pinned_via', sa.String(length=16), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('ended_by_id', sa.Integer(), nullable=True),
    sa.Column('cursor', sa.String(length=64), nullable=True),
    sa.Column('last_pulled_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_federation_subscription_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ended_by_id'], ['user.id'], name=op.f('fk_federation_subscription_ended_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_federation_subscription'))
    )
    with op.batch_alter_table('federation_subscription', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_federation_subscription_origin'), ['origin'], unique=False)

    op.create_table('federation_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_federation_token_created_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_federation_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_federation_token_token_hash'))
    )
    op.create_table('course_origin',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=True),
    sa.Column('instance_name', sa.String(length=120), nullable=False),
    sa.Column('instance_url', sa.String(length=255), nullable=False),
    sa.Column('publisher_name', sa.String(length=120), nullable=False),
    sa.Column('original_code', sa.String(length=32), nullable=False),
    sa.Column('original_version', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_course_origin_course_id_course'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscription_id'], ['federation_subscription.id'], name=op.f('fk_course_origin_subscription_id_federation_subscription'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_course_origin')),
    sa.UniqueConstraint('course_id', name=op.f('uq_course_origin_course_id')),
    sa.UniqueConstraint('instance_url', 'original_code', 'original_version', name=op.f('uq_course_origin_instance_url_original_code_original_version'))
    )
    with op.batch_alter_table('course_origin', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_course_origin_subscription_id'), ['subscription_id'], unique=False)

    op.create_table('federation_archive',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('built_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_federation_archive_course_id_course'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_federation_archive')),
    sa.UniqueConstraint('course_id', name=op.f('uq_federation_archive_course_id'))
    )
    with op.batch_alter_table('federation_archive', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_federation_archive_built_at'), ['built_at'], unique=False)

    op.create_table('federation_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_federation_entry_course_id_course'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['subscription_id'], ['federation_subscription.id'], name=op.f('fk_federation_entry_subscription_id_federation_subscription'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_federation_entry'))
    )
    with op.batch_alter_table('federation_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_federation_entry_subscription_id'), ['subscription_id'], unique=False)



def downgrade():
    with op.batch_alter_table('federation_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_federation_entry_subscription_id'))

    op.drop_table('federation_entry')
    with op.batch_alter_table('federation_archive', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_federation_archive_built_at'))

    op.drop_table('federation_archive')
    with op.batch_alter_table('course_origin', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_course_origin_subscription_id'))

    op.drop_table('course_origin')
    op.drop_table('federation_token')
    with op.batch_alter_table('federation_subscription', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_federation_subscription_origin'))

    op.drop_table('federation_subscription')
    op.drop_table('federation_share')
