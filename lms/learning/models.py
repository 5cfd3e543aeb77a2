from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow_naive
from ..core.enums import N_, LabelledEnum
from ..extensions import db


class NotCounted(LabelledEnum):
    """Why played time was not counted; keys of LessonProgress.not_counted."""

    SEEK = "seek", N_("拖动进度条跳过未看内容")
    HIDDEN = "hidden", N_("页面在后台或被遮挡")
    SUPERSEDED = "superseded", N_("已在其他页面或设备播放")
    ATTENTION = "attention", N_("未及时确认在线学习提示")
    RATE = "rate", N_("使用了规则不允许的播放倍速")
    OVER_WALLCLOCK = "over_wallclock", N_("上报的播放时长超过实际经过的时间")


def not_counted_label(reason: str) -> str:
    """The label of a ``not_counted`` key; an unknown key (from an older version) shows as it is."""
    try:
        return NotCounted(reason).label
    except ValueError:
        return reason


class Enrollment(db.Model):
    """A learner's enrolment in one version of a course; they keep that version."""

    __tablename__ = "enrollment"
    __table_args__ = (UniqueConstraint("user_id", "course_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id"), index=True)
    course_code: Mapped[str] = mapped_column(String(32), index=True)
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    last_lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lesson.id", ondelete="SET NULL"))
    last_studied_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]

    course = relationship("Course")
    user = relationship("User")


class LessonProgress(db.Model):
    """What one learner has watched of one lesson and how much of it the server credited.

    ``watched_intervals`` is a sorted list of disjoint [start, end] media seconds;
    ``credited_seconds`` is wall-clock learning time the server accepted; ``not_counted`` tallies
    the seconds it refused, by reason (values of NotCounted).
    """

    __tablename__ = "lesson_progress"
    __table_args__ = (UniqueConstraint("user_id", "lesson_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lesson.id", ondelete="CASCADE"), index=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollment.id", ondelete="CASCADE"), index=True)
    watched_intervals: Mapped[list] = mapped_column(JSON, default=list)
    watched_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    furthest_point: Mapped[float] = mapped_column(Float, default=0.0)
    resume_position: Mapped[float] = mapped_column(Float, default=0.0)
    credited_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    # Wall-clock time already charged to the learner's budget but held back until the next attention
    # check is passed (one is asked when the schedule says so, and when the lesson's coverage is reached).
    pending_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    not_counted: Mapped[dict] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    completed_at: Mapped[datetime | None]
    last_beat_at: Mapped[datetime | None]
    last_beat_seq: Mapped[int] = mapped_column(default=0)

    lesson = relationship("Lesson")


class PlaySession(db.Model):
    """The play lease: one active session per learner. Starting playback elsewhere supersedes it.

    What the heartbeat needs is copied in at start (duration, rates, attention settings), so a
    beat reads two rows: this one and the lesson progress.
    """

    __tablename__ = "play_session"
    __table_args__ = (Index("ix_play_session_user_active", "user_id", "superseded_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random token
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lesson.id", ondelete="CASCADE"), index=True)
    progress_id: Mapped[int] = mapped_column(ForeignKey("lesson_progress.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="video")
    duration_seconds: Mapped[float] = mapped_column(Float)
    allowed_rates: Mapped[str] = mapped_column(String(64))
    coverage_threshold: Mapped[float] = mapped_column(Float, default=0.95)
    started_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    last_beat_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    seq: Mapped[int] = mapped_column(default=0)
    superseded_at: Mapped[datetime | None]
    # Wall-clock credit allowance carried between beats, never more than the tolerance.
    slack_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    # Attention checks, per learner: the schedule travels with the lease (see start_session), so new
    # sessions, lesson switches and pauses never postpone a check. since_check_seconds counts the
    # wall-clock time charged since the last check; a check is due when it reaches check_after_seconds.
    since_check_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    check_after_seconds: Mapped[float | None] = mapped_column(Float)
    check_issued_at: Mapped[datetime | None]
    check_window_seconds: Mapped[int] = mapped_column(default=60)
    check_min_seconds: Mapped[int] = mapped_column(default=300)
    check_max_seconds: Mapped[int] = mapped_column(default=900)
    checks_passed: Mapped[int] = mapped_column(default=0)
    checks_missed: Mapped[int] = mapped_column(default=0)

    # Not stored: seconds lost when this session was started with a carried check already overdue, so
    # that the start's answer can tell the learner (None: nothing was lost).
    attention_missed = None


class QuizAttempt(db.Model):
    """One sitting of a course's final exam; ``layout`` is the shuffled order shown."""

    __tablename__ = "quiz_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id"), index=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollment.id", ondelete="CASCADE"), index=True)
    # [{"q": question id, "o": [original option index shown as A, B, ...]}, ...]
    layout: Mapped[list] = mapped_column(JSON, default=list)
    answers: Mapped[dict | None] = mapped_column(JSON)  # question id → original answer ("B", "ACD", "true")
    started_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    submitted_at: Mapped[datetime | None]
    score: Mapped[int | None]
    pass_score: Mapped[int] = mapped_column(default=60)
    passed: Mapped[bool | None]
    # Set when an admin reset the learner's attempts (with a reason, audited): no longer counted.
    reset_at: Mapped[datetime | None]
