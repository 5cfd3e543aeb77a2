"""credit ledger entries, rule tiers, certificates

The ledger becomes strictly append-only: voiding moves from columns on the voided row (never used
before this revision) to correction and revocation entries that name the row they void.

Revision ID: credits01
Revises: learning01
Create Date: 2026-11-28 18:48:41.402459

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'credits01'
down_revision = 'learning01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('certificate_sequence',
    sa.Column('issuer', sa.String(length=6), nullable=False),
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('issuer', 'year', name=op.f('pk_certificate_sequence'))
    )
    op.create_table('certificate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=24), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('credit_record_id', sa.Integer(), nullable=True),
    sa.Column('course_code', sa.String(length=32), nullable=True),
    sa.Column('credit_year', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=160), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=True),
    sa.Column('hours', sa.Numeric(precision=5, scale=1), nullable=False),
    sa.Column('exam_score', sa.Integer(), nullable=True),
    sa.Column('completed_on', sa.Date(), nullable=True),
    sa.Column('holder_name_masked', sa.String(length=50), nullable=False),
    sa.Column('holder_id_masked', sa.String(length=18), nullable=False),
    sa.Column('issuer_name', sa.String(length=120), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('issued_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('pdf_path', sa.String(length=255), nullable=False),
    sa.Column('pdf_sha256', sa.String(length=64), nullable=False),
    sa.Column('credential_jwt', sa.Text(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_by_id', sa.Integer(), nullable=True),
    sa.Column('revoke_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['credit_record_id'], ['credit_record.id'], name=op.f('fk_certificate_credit_record_id_credit_record')),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['user.id'], name=op.f('fk_certificate_revoked_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_certificate_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificate')),
    sa.UniqueConstraint('number', name=op.f('uq_certificate_number'))
    )
    with op.batch_alter_table('certificate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certificate_pdf_sha256'), ['pdf_sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_certificate_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('credit_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('entry_kind', sa.String(length=16), server_default='completion', nullable=False))
        batch_op.add_column(sa.Column('voids_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('entered_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('note', sa.Text(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_credit_record_voids_id'), ['voids_id'])
        batch_op.drop_constraint(batch_op.f('fk_credit_record_voided_by_id_user'), type_='foreignkey')
        batch_op.create_foreign_key(batch_op.f('fk_credit_record_entered_by_id_user'), 'user', ['entered_by_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_credit_record_voids_id_credit_record'), 'credit_record', ['voids_id'], ['id'])
        batch_op.drop_column('voided_by_id')
        batch_op.drop_column('voided_at')
        batch_op.drop_column('void_reason')

    with op.batch_alter_table('rule_set', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hour_tiers', sa.String(length=120), nullable=True))



def downgrade():
    with op.batch_alter_table('rule_set', schema=None) as batch_op:
        batch_op.drop_column('hour_tiers')

    with op.batch_alter_table('credit_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('void_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('voided_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('voided_by_id', sa.Integer(), nullable=True))
        batch_op.drop_constraint(batch_op.f('fk_credit_record_voids_id_credit_record'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_credit_record_entered_by_id_user'), type_='foreignkey')
        batch_op.create_foreign_key(batch_op.f('fk_credit_record_voided_by_id_user'), 'user', ['voided_by_id'], ['id'], ondelete='SET NULL')
        batch_op.drop_constraint(batch_op.f('uq_credit_record_voids_id'), type_='unique')
        batch_op.drop_column('note')
        batch_op.drop_column('reason')
        batch_op.drop_column('entered_by_id')
        batch_op.drop_column('voids_id')
        batch_op.drop_column('entry_kind')

    with op.batch_alter_table('certificate', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certificate_user_id'))
        batch_op.drop_index(batch_op.f('ix_certificate_pdf_sha256'))

    op.drop_table('certificate')
    op.drop_table('certificate_sequence')
