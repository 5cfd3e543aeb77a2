"""media: transcode attempts, so a stalled transcode is retried by the sweep once, up to a limit

``transcode_attempt`` numbers every start of a transcode (never reset): the running job owns the
asset only while it is still the latest attempt, and writes its renditions under a folder of that
number. ``transcode_retries`` counts the sweep's automatic retries since the last start by a
publisher (or the upload); past LMS_TRANSCODE_MAX_RETRIES the asset fails with a message.

Revision ID: media01
Revises: certqueue01
Create Date: 2026-11-30 22:40:00.000000+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'media01'
down_revision = 'certqueue01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('media_asset', schema=None) as batch_op:
        batch_op.add_column(sa.Column('transcode_attempt', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('transcode_retries', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('media_asset', schema=None) as batch_op:
        batch_op.drop_column('transcode_retries')
        batch_op.drop_column('transcode_attempt')
