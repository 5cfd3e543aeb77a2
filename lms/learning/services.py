"""Enrolment, the course's state for its learner, and course completion.

The learning package in layers, each importing only those above it:

1. ``models``, ``crediting`` (the crediting rules: pure functions);
2. ``services`` (this module): enrolment, course state, course completion;
3. ``play``: play leases, attention checks, lesson completion;
4. ``heartbeat``: the heartbeat hot path; ``exam``: the final exam;
5. ``routes``, ``api``: the views.

Course completion reacts to the ``lesson_completed`` and ``quiz_attempt_finished`` signals, so the
modules that complete a lesson or grade an exam do not call it.

Services take the acting user (or their id) as an argument, never read the request, and flush;
the route, CLI command or job commits.
"""

import random
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from ..assessment.models import QuizQuestion
from ..catalog.models import Chapter, Course, CourseStatus, Lesson, LessonKind
from ..core import signals
from ..core.clock import utcnow_naive
from ..core.errors import NotAllowed, NotFound
from ..credits import services as credits
from ..extensions import db
from .models import Enrollment, LessonProgress, QuizAttempt, not_counted_label

system_random = random.SystemRandom()


def heartbeat_seconds() -> int:
    return int(current_app.config["LMS_HEARTBEAT_SECONDS"])


def reading_min_seconds() -> int:
    return int(current_app.config["LMS_READING_MIN_SECONDS"])


# ---------------------------------------------------------------- enrolment

def enroll(actor, course_code: str) -> Enrollment:
    """Enrol (free, idempotent). A learner already enrolled in any version of the course keeps it."""
    existing = find_enrollment(actor.id, course_code)
    if existing is not None:
        return existing
    course = db.session.scalar(
        select(Course).where(Course.code == course_code, Course.status == CourseStatus.PUBLISHED)
        .order_by(Course.version.desc()).limit(1))
    if course is None:
        raise NotFound(_("该课程不存在或已下线，无法报名。"))
    enrollment = Enrollment(user_id=actor.id, course_id=course.id, course_code=course.code)
    db.session.add(enrollment)
    db.session.flush()
    return enrollment


def find_enrollment(user_id: int, course_code: str) -> Enrollment | None:
    return db.session.scalar(select(Enrollment).where(Enrollment.user_id == user_id,
                                                      Enrollment.course_code == course_code)
                             .order_by(Enrollment.id).limit(1))


def require_enrollment(actor, course_code: str) -> Enrollment:
    enrollment = find_enrollment(actor.id, course_code)
    if enrollment is None:
        raise NotAllowed(_("您还没有报名这门课程。请先在课程页点击“报名学习”（免费）。"))
    return enrollment


def course_with_outline(course_id: int) -> Course:
    return db.session.scalar(
        select(Course).where(Course.id == course_id)
        .options(selectinload(Course.chapters).selectinload(Chapter.lessons).selectinload(Lesson.media_asset)))


# ---------------------------------------------------------------- progress views

@dataclass
class LessonState:
    lesson: Lesson
    progress: LessonProgress | None
    duration: float  # media seconds (video) or the minimum reading time (reading)
    required_credit: float

    @property
    def completed(self) -> bool:
        return bool(self.progress and self.progress.completed_at)

    @property
    def watched_percent(self) -> int:
        if not self.progress or not self.duration:
            return 0
        if self.lesson.kind == LessonKind.READING:
            return min(100, int(self.progress.credited_seconds * 100 // self.duration)) if not self.completed else 100
        return min(100, int(self.progress.watched_seconds * 100 // self.duration))

    @property
    def credited_seconds(self) -> float:
        return self.progress.credited_seconds if self.progress else 0.0

    @property
    def not_counted(self) -> list[tuple[str, str, float]]:
        tally = (self.progress.not_counted if self.progress else None) or {}
        return [(reason, not_counted_label(reason), seconds)
                for reason, seconds in sorted(tally.items(), key=lambda kv: -kv[1]) if seconds >= 0.5]

    @property
    def state_label(self) -> str:
        if self.completed:
            return _("已完成")
        return _("学习中") if self.progress else _("未开始")


@dataclass
class CourseState:
    enrollment: Enrollment
    course: Course
    lessons: list[LessonState] = field(default_factory=list)
    has_exam: bool = False
    exam_passed: bool = False
    best_score: int | None = None

    @property
    def completed_lessons(self) -> int:
        return sum(1 for s in self.lessons if s.completed)

    @property
    def percent(self) -> int:
        return self.completed_lessons * 100 // len(self.lessons) if self.lessons else 0

    @property
    def lessons_done(self) -> bool:
        return all(s.completed for s in self.lessons)

    @property
    def resume_lesson(self) -> Lesson | None:
        by_id = {s.lesson.id: s for s in self.lessons}
        last = by_id.get(self.enrollment.last_lesson_id)
        if last and not last.completed:
            return last.lesson
        for s in self.lessons:
            if not s.completed:
                return s.lesson
        return last.lesson if last else (self.lessons[0].lesson if self.lessons else None)

    @property
    def exam_status(self) -> str:
        """The exam's line in the outline."""
        if self.exam_passed:
            return _("已通过（%(s)s 分）", s=self.best_score)
        return _("可以参加") if self.lessons_done else _("完成全部课时后开放")

    def summary(self) -> dict:
        """What the player shows of the course after one of its lessons completes (no reload needed)."""
        return {"completed_lessons": self.completed_lessons, "lessons": len(self.lessons),
                "lessons_done": self.lessons_done, "has_exam": self.has_exam, "exam_passed": self.exam_passed,
                "completed": self.enrollment.completed_at is not None,
                "progress_text": _("已完成 %(d)s / %(t)s", d=self.completed_lessons, t=len(self.lessons)),
                "exam_status": self.exam_status if self.has_exam else None}

    def state_of(self, lesson_id: int) -> LessonState | None:
        return next((s for s in self.lessons if s.lesson.id == lesson_id), None)

    def next_lesson(self, lesson_id: int) -> Lesson | None:
        ids = [s.lesson.id for s in self.lessons]
        i = ids.index(lesson_id) if lesson_id in ids else -1
        return self.lessons[i + 1].lesson if 0 <= i < len(ids) - 1 else None


def lesson_duration(lesson: Lesson) -> float:
    if lesson.kind == LessonKind.VIDEO:
        return float(lesson.duration_seconds or 0)
    return float(reading_min_seconds())


def course_state(enrollment: Enrollment) -> CourseState:
    """The outline with each lesson's progress: three queries whatever the course's size."""
    course = course_with_outline(enrollment.course_id)
    rule = credits.rule_set_for(enrollment.user)
    lessons = course.lessons
    progress = {p.lesson_id: p for p in db.session.scalars(
        select(LessonProgress).where(LessonProgress.user_id == enrollment.user_id,
                                     LessonProgress.lesson_id.in_([lesson.id for lesson in lessons])))}
    state = CourseState(enrollment=enrollment, course=course)
    for lesson in lessons:
        duration = lesson_duration(lesson)
        required = duration / rule.fastest_rate if lesson.kind == LessonKind.VIDEO else duration
        state.lessons.append(LessonState(lesson, progress.get(lesson.id), duration, required))
    state.has_exam = _has_questions(course.id)
    if state.has_exam:
        state.best_score = db.session.scalar(
            select(func.max(QuizAttempt.score)).where(QuizAttempt.user_id == enrollment.user_id,
                                                      QuizAttempt.course_id == course.id,
                                                      QuizAttempt.passed.is_(True)))
        state.exam_passed = state.best_score is not None
    return state


def course_summary(enrollment_id: int) -> dict:
    return course_state(db.session.get(Enrollment, enrollment_id)).summary()


def my_learning(actor) -> list[CourseState]:
    enrollments = db.session.scalars(
        select(Enrollment).where(Enrollment.user_id == actor.id)
        .order_by(Enrollment.completed_at.is_not(None), func.coalesce(Enrollment.last_studied_at,
                                                                      Enrollment.enrolled_at).desc()))
    return [course_state(e) for e in enrollments]


def get_own(model, row_id: int, actor, *, missing: str, others: str):
    """The ``model`` row ``row_id`` when it belongs to ``actor`` (its ``user_id``); NotFound with
    ``missing``, or NotAllowed with ``others`` when it is someone else's."""
    row = db.session.get(model, row_id)
    if row is None:
        raise NotFound(missing)
    if row.user_id != actor.id:
        raise NotAllowed(others)
    return row


def get_own_progress(actor, progress_id: int) -> LessonProgress:
    return get_own(LessonProgress, progress_id, actor, missing=_("没有找到这条学习记录。"), others=_("只能查看自己的学习记录。"))


def progress_summary(progress: LessonProgress, duration: float) -> dict:
    return {
        "lesson_id": progress.lesson_id,
        "watched_seconds": round(progress.watched_seconds, 1),
        "watched_percent": min(100, int(progress.watched_seconds * 100 // duration)) if duration else 0,
        "furthest_point": round(progress.furthest_point, 1),
        "resume_position": round(progress.resume_position, 1),
        "credited_seconds": round(progress.credited_seconds, 1),
        "pending_seconds": round(progress.pending_seconds or 0.0, 1),
        "completed": progress.completed_at is not None,
        "not_counted": [{"reason": r, "label": not_counted_label(r), "seconds": round(s, 1)}
                        for r, s in sorted((progress.not_counted or {}).items(), key=lambda kv: -kv[1])
                        if s >= 0.5],
    }


# ---------------------------------------------------------------- locks and completion

def lock_for_write(model, key) -> None:
    """Take the row's write lock before reading it.

    PostgreSQL: the following SELECT … FOR UPDATE locks the row. SQLite ignores FOR UPDATE, so a
    no-op UPDATE takes the database write lock first; concurrent writers then wait (busy timeout)
    and read fresh rows, instead of failing on a stale snapshot.
    """
    if db.session.get_bind().dialect.name == "sqlite":
        table = model.__table__
        pk = list(table.primary_key.columns)[0]
        db.session.execute(update(table).where(pk == key).values({pk.name: pk}))



def _has_questions(course_id: int) -> bool:
    return db.session.scalar(select(QuizQuestion.id).where(QuizQuestion.course_id == course_id).limit(1)) is not None


def complete_course_if_done(enrollment: Enrollment):
    """All lessons complete and, when the course has questions, the exam passed: write the credit
    record and emit ``course_completed`` — once, however often this is called."""
    lock_for_write(Enrollment, enrollment.id)
    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.id == enrollment.id)
                                   .with_for_update().execution_options(populate_existing=True))
    if enrollment.completed_at is not None:
        return None
    lesson_ids = list(db.session.scalars(select(Lesson.id).join(Chapter).where(
        Chapter.course_id == enrollment.course_id, Lesson.kind != LessonKind.QUIZ)))
    done = db.session.scalar(select(func.count()).select_from(LessonProgress).where(
        LessonProgress.user_id == enrollment.user_id, LessonProgress.lesson_id.in_(lesson_ids),
        LessonProgress.completed_at.is_not(None)))
    if done < len(lesson_ids):
        return None
    score = None
    if _has_questions(enrollment.course_id):
        score = db.session.scalar(select(func.max(QuizAttempt.score)).where(
            QuizAttempt.enrollment_id == enrollment.id, QuizAttempt.passed.is_(True)))
        if score is None:
            return None
    now = utcnow_naive()
    enrollment.completed_at = now
    course = db.session.get(Course, enrollment.course_id)
    record = credits.record_course_completion(enrollment.user, course, completed_at=now, exam_score=score)
    signals.course_completed.send(enrollment)
    return record


def _on_lesson_completed(progress: LessonProgress, **_extra) -> None:
    complete_course_if_done(db.session.get(Enrollment, progress.enrollment_id))


def _on_attempt_finished(attempt: QuizAttempt, **_extra) -> None:
    if attempt.passed:
        complete_course_if_done(db.session.get(Enrollment, attempt.enrollment_id))


signals.lesson_completed.connect(_on_lesson_completed)
signals.quiz_attempt_finished.connect(_on_attempt_finished)
