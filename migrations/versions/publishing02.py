"""separation of duties: who edited each course version

Revision ID: publishing02
Revises: accounts03
Create Date: 2026-11-29 22:15:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'publishing02'
down_revision = 'accounts03'
branch_labels = None
depends_on = None


def upgrade():
    # Everyone who created, edited or submitted a course version: they may not approve it.
    op.create_table(
        'course_editor',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('course_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('first_at', sa.DateTime(), nullable=False),
        sa.Column('last_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_course_editor_course_id_course'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_course_editor_user_id_user'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_course_editor')),
        sa.UniqueConstraint('course_id', 'user_id', 'kind', name=op.f('uq_course_editor_course_id_user_id_kind')),
    )
    with op.batch_alter_table('course_editor', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_course_editor_course_id'), ['course_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_course_editor_user_id'), ['user_id'], unique=False)

    # Who made each version and who approved it. Versions from before this revision: unknown (NULL);
    # their approver is the actor of their review event to "published", where there is one.
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('approved_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_course_created_by_id_user'), 'user', ['created_by_id'], ['id'],
                                    ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_course_approved_by_id_user'), 'user', ['approved_by_id'], ['id'],
                                    ondelete='SET NULL')
    # Versions from before this revision: what the audit log and the review events already know.
    # Who created a version (course.created / course.new_version events), who submitted it, who
    # approved it; edits were not recorded before, so those stay unknown.
    op.execute(
        "UPDATE course SET created_by_id = (SELECT audit_event.actor_id FROM audit_event"
        " WHERE audit_event.action IN ('course.created', 'course.new_version')"
        " AND audit_event.target_type = 'Course' AND audit_event.target_id = CAST(course.id AS VARCHAR(64))"
        " ORDER BY audit_event.id LIMIT 1)"
    )
    op.execute(
        "UPDATE course SET approved_by_id = (SELECT review_event.actor_id FROM review_event"
        " WHERE review_event.course_id = course.id AND review_event.to_status = 'published'"
        " ORDER BY review_event.at DESC, review_event.id DESC LIMIT 1)"
    )
    op.execute(
        "INSERT INTO course_editor (course_id, user_id, kind, first_at, last_at)"
        " SELECT course.id, course.created_by_id, 'created', course.created_at, course.created_at FROM course"
        " WHERE course.created_by_id IS NOT NULL"
    )
    op.execute(
        "INSERT INTO course_editor (course_id, user_id, kind, first_at, last_at)"
        " SELECT review_event.course_id, review_event.actor_id, 'submitted', MIN(review_event.at), MAX(review_event.at)"
        " FROM review_event WHERE review_event.to_status = 'in_review' AND review_event.actor_id IS NOT NULL"
        " GROUP BY review_event.course_id, review_event.actor_id"
    )


def downgrade():
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_course_approved_by_id_user'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_course_created_by_id_user'), type_='foreignkey')
        batch_op.drop_column('approved_by_id')
        batch_op.drop_column('created_by_id')

    with op.batch_alter_table('course_editor', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_course_editor_user_id'))
        batch_op.drop_index(batch_op.f('ix_course_editor_course_id'))

    op.drop_table('course_editor')
