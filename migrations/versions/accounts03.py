"""server-side sessions: logout ends this device's session, login failures per account

Also: API client tokens get an optional end date and rotation (a grace period for the old secret).

Revision ID: accounts03
Revises: exam01
Create Date: 2026-11-29 22:15:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'accounts03'
down_revision = 'exam01'
branch_labels = None
depends_on = None


def upgrade():
    # One row per sign-in on one device; its id is part of the cookie's user id. Cookies written
    # before this revision ("<id>.<epoch>") name no row: everyone signs in once more.
    op.create_table(
        'user_session',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.Column('remember', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('device', sa.String(length=80), server_default='', nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_user_session_user_id_user'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_user_session')),
        sqlite_autoincrement=True,  # ids are never reused: a stale cookie cannot name a new session
    )
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_session_user_id'), ['user_id'], unique=False)

    # Failed logins, counted per account, per address and per known browser (accounts/throttle.py).
    op.create_table(
        'login_failure',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('source', sa.String(length=45), nullable=True),
        sa.Column('device', sa.String(length=32), nullable=True),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_login_failure_user_id_user'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failure')),
    )
    with op.batch_alter_table('login_failure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_failure_at'), ['at'], unique=False)
        batch_op.create_index('ix_login_failure_source_at', ['source', 'at'], unique=False)
        batch_op.create_index('ix_login_failure_user_id_at', ['user_id', 'at'], unique=False)

    # HR API tokens: an optional end, and rotation with the previous secret kept for a grace period.
    with op.batch_alter_table('api_client', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('rotated_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('previous_secret_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('previous_secret_expires_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('api_client', schema=None) as batch_op:
        batch_op.drop_column('previous_secret_expires_at')
        batch_op.drop_column('previous_secret_hash')
        batch_op.drop_column('rotated_at')
        batch_op.drop_column('expires_at')

    with op.batch_alter_table('login_failure', schema=None) as batch_op:
        batch_op.drop_index('ix_login_failure_user_id_at')
        batch_op.drop_index('ix_login_failure_source_at')
        batch_op.drop_index(batch_op.f('ix_login_failure_at'))
    op.drop_table('login_failure')

    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_session_user_id'))
    op.drop_table('user_session')
