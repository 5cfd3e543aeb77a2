"""media renditions and transcoding state

Revision ID: 13096fae9f4f
Revises: dd44000cd118
Create Date: 2026-11-28 18:11:44.983998

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '13096fae9f4f'
down_revision = 'dd44000cd118'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('media_asset', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mp4_path', sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column('hls_path', sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column('poster_path', sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column('captions_path', sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column('progress', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(), nullable=False,
                                      server_default=sa.func.current_timestamp()))

    # Existing assets are generated or packaged MP4 files that already play as they are.
    op.execute("UPDATE media_asset SET mp4_path = path, progress = 100 WHERE path LIKE '%.mp4' OR path LIKE '%.m4v'")


def downgrade():
    with op.batch_alter_table('media_asset', schema=None) as batch_op:
        batch_op.drop_column('updated_at')
        batch_op.drop_column('error')
        batch_op.drop_column('progress')
        batch_op.drop_column('captions_path')
        batch_op.drop_column('poster_path')
        batch_op.drop_column('hls_path')
        batch_op.drop_column('mp4_path')

