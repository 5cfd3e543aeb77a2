"""reset and verification codes

Revision ID: recovery01
Revises: uploads01
Create Date: 2026-11-30 04:32:48.083386+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'recovery01'
down_revision = 'uploads01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('recovery_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=45), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_request'))
    )
    with op.batch_alter_table('recovery_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_request_at'), ['at'], unique=False)
        batch_op.create_index('ix_recovery_request_source_at', ['source', 'at'], unique=False)

    op.create_table('recovery_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('destination_hash', sa.String(length=64), nullable=False),
    sa.Column('destination_masked', sa.String(length=64), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('failed_attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('sent_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['sent_by_id'], ['user.id'], name=op.f('fk_recovery_code_sent_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_recovery_code_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_code'))
    )
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.create_index('ix_recovery_code_destination_hash_created_at', ['destination_hash', 'created_at'], unique=False)
        batch_op.create_index('ix_recovery_code_user_id_created_at', ['user_id', 'created_at'], unique=False)

    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_verified_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('mobile_verified_at', sa.DateTime(), nullable=True))



def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('mobile_verified_at')
        batch_op.drop_column('email_verified_at')

    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.drop_index('ix_recovery_code_user_id_created_at')
        batch_op.drop_index('ix_recovery_code_destination_hash_created_at')

    op.drop_table('recovery_code')
    with op.batch_alter_table('recovery_request', schema=None) as batch_op:
        batch_op.drop_index('ix_recovery_request_source_at')
        batch_op.drop_index(batch_op.f('ix_recovery_request_at'))

    op.drop_table('recovery_request')
