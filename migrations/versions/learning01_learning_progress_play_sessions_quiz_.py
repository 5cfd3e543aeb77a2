"""learning progress, play sessions, quiz attempts, rule sets and credit records

Revision ID: learning01
Revises: publishing01
Create Date: 2026-11-28 18:20:12.212001

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'learning01'
down_revision = 'publishing01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rule_set',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=True),
    sa.Column('annual_hours', sa.Numeric(precision=5, scale=1), nullable=False),
    sa.Column('public_min_hours', sa.Numeric(precision=5, scale=1), nullable=False),
    sa.Column('minutes_per_hour', sa.Integer(), nullable=False),
    sa.Column('rounding_step', sa.Numeric(precision=3, scale=2), nullable=False),
    sa.Column('daily_cap_hours', sa.Numeric(precision=4, scale=1), nullable=True),
    sa.Column('cycle_end_month', sa.Integer(), nullable=False),
    sa.Column('cycle_end_day', sa.Integer(), nullable=False),
    sa.Column('coverage_threshold', sa.Numeric(precision=3, scale=2), nullable=False),
    sa.Column('allowed_rates', sa.String(length=64), nullable=False),
    sa.Column('attention_check_min_seconds', sa.Integer(), nullable=False),
    sa.Column('attention_check_max_seconds', sa.Integer(), nullable=False),
    sa.Column('attention_window_seconds', sa.Integer(), nullable=False),
    sa.Column('quiz_pass_score', sa.Integer(), nullable=False),
    sa.Column('quiz_attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['region_code'], ['region.code'], name=op.f('fk_rule_set_region_code_region')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rule_set')),
    sa.UniqueConstraint('region_code', name=op.f('uq_rule_set_region_code'))
    )
    op.create_table('credit_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('course_code', sa.String(length=32), nullable=False),
    sa.Column('course_version', sa.Integer(), nullable=False),
    sa.Column('course_title', sa.String(length=120), nullable=False),
    sa.Column('hours', sa.Numeric(precision=4, scale=1), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('credit_year', sa.Integer(), nullable=False),
    sa.Column('completed_at', sa.DateTime(), nullable=False),
    sa.Column('exam_score', sa.Integer(), nullable=True),
    sa.Column('rule_set_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('voided_at', sa.DateTime(), nullable=True),
    sa.Column('voided_by_id', sa.Integer(), nullable=True),
    sa.Column('void_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_credit_record_course_id_course')),
    sa.ForeignKeyConstraint(['rule_set_id'], ['rule_set.id'], name=op.f('fk_credit_record_rule_set_id_rule_set')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_credit_record_user_id_user')),
    sa.ForeignKeyConstraint(['voided_by_id'], ['user.id'], name=op.f('fk_credit_record_voided_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_record'))
    )
    with op.batch_alter_table('credit_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_record_course_id'), ['course_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_credit_record_user_id'), ['user_id'], unique=False)
        batch_op.create_index('ix_credit_record_user_year', ['user_id', 'credit_year'], unique=False)

    op.create_table('enrollment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('course_code', sa.String(length=32), nullable=False),
    sa.Column('enrolled_at', sa.DateTime(), nullable=False),
    sa.Column('last_lesson_id', sa.Integer(), nullable=True),
    sa.Column('last_studied_at', sa.DateTime(), nullable=True),
    sa.Column('completed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_enrollment_course_id_course')),
    sa.ForeignKeyConstraint(['last_lesson_id'], ['lesson.id'], name=op.f('fk_enrollment_last_lesson_id_lesson'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_enrollment_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrollment')),
    sa.UniqueConstraint('user_id', 'course_id', name=op.f('uq_enrollment_user_id_course_id'))
    )
    with op.batch_alter_table('enrollment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrollment_course_code'), ['course_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_enrollment_course_id'), ['course_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_enrollment_user_id'), ['user_id'], unique=False)

    op.create_table('lesson_progress',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('lesson_id', sa.Integer(), nullable=False),
    sa.Column('enrollment_id', sa.Integer(), nullable=False),
    sa.Column('watched_intervals', sa.JSON(), nullable=False),
    sa.Column('watched_seconds', sa.Float(), nullable=False),
    sa.Column('furthest_point', sa.Float(), nullable=False),
    sa.Column('resume_position', sa.Float(), nullable=False),
    sa.Column('credited_seconds', sa.Float(), nullable=False),
    sa.Column('not_counted', sa.JSON(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('completed_at', sa.DateTime(), nullable=True),
    sa.Column('last_beat_at', sa.DateTime(), nullable=True),
    sa.Column('last_beat_seq', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['enrollment_id'], ['enrollment.id'], name=op.f('fk_lesson_progress_enrollment_id_enrollment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], name=op.f('fk_lesson_progress_lesson_id_lesson'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_lesson_progress_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lesson_progress')),
    sa.UniqueConstraint('user_id', 'lesson_id', name=op.f('uq_lesson_progress_user_id_lesson_id'))
    )
    with op.batch_alter_table('lesson_progress', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lesson_progress_enrollment_id'), ['enrollment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lesson_progress_lesson_id'), ['lesson_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lesson_progress_user_id'), ['user_id'], unique=False)

    op.create_table('quiz_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('enrollment_id', sa.Integer(), nullable=False),
    sa.Column('layout', sa.JSON(), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(), nullable=True),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('pass_score', sa.Integer(), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_quiz_attempt_course_id_course')),
    sa.ForeignKeyConstraint(['enrollment_id'], ['enrollment.id'], name=op.f('fk_quiz_attempt_enrollment_id_enrollment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_quiz_attempt_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quiz_attempt'))
    )
    with op.batch_alter_table('quiz_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quiz_attempt_course_id'), ['course_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quiz_attempt_enrollment_id'), ['enrollment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quiz_attempt_user_id'), ['user_id'], unique=False)

    op.create_table('play_session',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('lesson_id', sa.Integer(), nullable=False),
    sa.Column('progress_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('duration_seconds', sa.Float(), nullable=False),
    sa.Column('allowed_rates', sa.String(length=64), nullable=False),
    sa.Column('coverage_threshold', sa.Float(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('last_beat_at', sa.DateTime(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('superseded_at', sa.DateTime(), nullable=True),
    sa.Column('slack_seconds', sa.Float(), nullable=False),
    sa.Column('pending_seconds', sa.Float(), nullable=False),
    sa.Column('check_after_seconds', sa.Float(), nullable=True),
    sa.Column('check_issued_at', sa.DateTime(), nullable=True),
    sa.Column('check_window_seconds', sa.Integer(), nullable=False),
    sa.Column('check_min_seconds', sa.Integer(), nullable=False),
    sa.Column('check_max_seconds', sa.Integer(), nullable=False),
    sa.Column('checks_passed', sa.Integer(), nullable=False),
    sa.Column('checks_missed', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], name=op.f('fk_play_session_lesson_id_lesson'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['progress_id'], ['lesson_progress.id'], name=op.f('fk_play_session_progress_id_lesson_progress'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_play_session_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_play_session'))
    )
    with op.batch_alter_table('play_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_play_session_lesson_id'), ['lesson_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_play_session_progress_id'), ['progress_id'], unique=False)
        batch_op.create_index('ix_play_session_user_active', ['user_id', 'superseded_at'], unique=False)



def downgrade():
    with op.batch_alter_table('play_session', schema=None) as batch_op:
        batch_op.drop_index('ix_play_session_user_active')
        batch_op.drop_index(batch_op.f('ix_play_session_progress_id'))
        batch_op.drop_index(batch_op.f('ix_play_session_lesson_id'))

    op.drop_table('play_session')
    with op.batch_alter_table('quiz_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quiz_attempt_user_id'))
        batch_op.drop_index(batch_op.f('ix_quiz_attempt_enrollment_id'))
        batch_op.drop_index(batch_op.f('ix_quiz_attempt_course_id'))

    op.drop_table('quiz_attempt')
    with op.batch_alter_table('lesson_progress', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lesson_progress_user_id'))
        batch_op.drop_index(batch_op.f('ix_lesson_progress_lesson_id'))
        batch_op.drop_index(batch_op.f('ix_lesson_progress_enrollment_id'))

    op.drop_table('lesson_progress')
    with op.batch_alter_table('enrollment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrollment_user_id'))
        batch_op.drop_index(batch_op.f('ix_enrollment_course_id'))
        batch_op.drop_index(batch_op.f('ix_enrollment_course_code'))

    op.drop_table('enrollment')
    with op.batch_alter_table('credit_record', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_record_user_year')
        batch_op.drop_index(batch_op.f('ix_credit_record_user_id'))
        batch_op.drop_index(batch_op.f('ix_credit_record_course_id'))

    op.drop_table('credit_record')
    op.drop_table('rule_set')
