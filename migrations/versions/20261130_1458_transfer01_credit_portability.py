"""credit portability: trusted issuers, credit transfers, consent links

Revision ID: transfer01
Revises: classes01
Create Date: 2026-11-30 14:58:54.093498+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'transfer01'
down_revision = 'classes01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('trusted_issuer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issuer_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('jwks_url', sa.String(length=512), nullable=True),
    sa.Column('pinned_keys', sa.JSON(), nullable=False),
    sa.Column('keys_fetched_at', sa.DateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('removed_at', sa.DateTime(), nullable=True),
    sa.Column('removed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_trusted_issuer_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['removed_by_id'], ['user.id'], name=op.f('fk_trusted_issuer_removed_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trusted_issuer'))
    )
    with op.batch_alter_table('trusted_issuer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trusted_issuer_issuer_id'), ['issuer_id'], unique=False)

    op.create_table('credit_transfer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('issuer_id', sa.Integer(), nullable=False),
    sa.Column('credential_id', sa.String(length=255), nullable=False),
    sa.Column('original_number', sa.String(length=64), nullable=False),
    sa.Column('course_code', sa.String(length=64), nullable=False),
    sa.Column('course_title', sa.String(length=160), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('hours', sa.Numeric(precision=4, scale=1), nullable=False),
    sa.Column('term', sa.String(length=32), nullable=False),
    sa.Column('completed_on', sa.Date(), nullable=False),
    sa.Column('status_list_url', sa.String(length=512), nullable=True),
    sa.Column('status_index', sa.Integer(), nullable=True),
    sa.Column('credential_jwt', sa.Text(), nullable=False),
    sa.Column('credit_record_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('accepted_at', sa.DateTime(), nullable=False),
    sa.Column('checked_at', sa.DateTime(), nullable=False),
    sa.Column('voided_at', sa.DateTime(), nullable=True),
    sa.Column('void_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['credit_record_id'], ['credit_record.id'], name=op.f('fk_credit_transfer_credit_record_id_credit_record')),
    sa.ForeignKeyConstraint(['issuer_id'], ['trusted_issuer.id'], name=op.f('fk_credit_transfer_issuer_id_trusted_issuer')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_credit_transfer_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_transfer')),
    sa.UniqueConstraint('credential_id', name=op.f('uq_credit_transfer_credential_id'))
    )
    with op.batch_alter_table('credit_transfer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_transfer_checked_at'), ['checked_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_credit_transfer_issuer_id'), ['issuer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_credit_transfer_user_id'), ['user_id'], unique=False)

    op.create_table('credential_consent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('certificate_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('used_count', sa.Integer(), nullable=False),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificate.id'], name=op.f('fk_credential_consent_certificate_id_certificate'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_credential_consent_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credential_consent')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_credential_consent_token_hash'))
    )
    with op.batch_alter_table('credential_consent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credential_consent_user_id'), ['user_id'], unique=False)



def downgrade():
    with op.batch_alter_table('credential_consent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credential_consent_user_id'))

    op.drop_table('credential_consent')
    with op.batch_alter_table('credit_transfer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_transfer_user_id'))
        batch_op.drop_index(batch_op.f('ix_credit_transfer_issuer_id'))
        batch_op.drop_index(batch_op.f('ix_credit_transfer_checked_at'))

    op.drop_table('credit_transfer')
    with op.batch_alter_table('trusted_issuer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trusted_issuer_issuer_id'))

    op.drop_table('trusted_issuer')
