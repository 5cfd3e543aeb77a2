"""a new token is held for the page view that shows it

Revision ID: api01
Revises: certificates01
Create Date: 2026-11-30 04:42:54.308883+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'api01'
down_revision = 'certificates01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('api_token_reveal',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_encrypted', sa.Text(), nullable=False),
    sa.Column('rotated', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['api_client.id'], name=op.f('fk_api_token_reveal_client_id_api_client'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_api_token_reveal_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_api_token_reveal'))
    )
    with op.batch_alter_table('api_token_reveal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_token_reveal_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_api_token_reveal_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_api_token_reveal_user_id'), ['user_id'], unique=False)



def downgrade():
    with op.batch_alter_table('api_token_reveal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_token_reveal_user_id'))
        batch_op.drop_index(batch_op.f('ix_api_token_reveal_expires_at'))
        batch_op.drop_index(batch_op.f('ix_api_token_reveal_client_id'))

    op.drop_table('api_token_reveal')
