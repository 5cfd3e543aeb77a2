"""Statements to a Learning Record Store, through the outbox (channel ``xapi``).

Only when ``LMS_XAPI_ENDPOINT`` is set (e.g. ``https://lrs.example.org/xAPI``, with
``LMS_XAPI_USERNAME``/``LMS_XAPI_PASSWORD`` for HTTP basic auth). Each learning signal adds one
statement to the outbox in the same transaction:

- ``play_session_started`` → ``launched`` (the lesson);
- ``lesson_completed`` → ``progressed`` (the lesson, with the course's progress in percent);
- ``course_completed`` → ``completed`` (the course);
- ``quiz_attempt_finished`` → ``passed`` / ``failed`` (the course's exam, with the score).

The outbox event id is the statement id, so a retried statement is the same statement; an LRS
that already holds it answers 204 or 409, both taken as delivered.
"""

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from ..catalog.models import Chapter, Course, Lesson, LessonKind
from ..core import signals
from ..credits.models import CreditRecord
from ..extensions import db
from ..learning.models import Enrollment, LessonProgress
from ..outbox.delivery import NotReady, OutgoingRequest, add_message, sender
from . import statements

CHANNEL = "xapi"  # the outbox channel of statements


def enabled() -> bool:
    return bool(current_app.config.get("LMS_XAPI_ENDPOINT"))


def enqueue(statement: dict):
    verb = statement["verb"]["id"].rsplit("/", 1)[-1]
    return add_message(channel=CHANNEL, event_type=f"xapi.{verb}", event_id=statement["id"], payload=statement)


def course_percent(enrollment: Enrollment) -> int:
    """Completed lessons (exams not counted) as a whole percentage of the course's lessons."""
    lesson_ids = select(Lesson.id).join(Chapter).where(Chapter.course_id == enrollment.course_id,
                                                       Lesson.kind != LessonKind.QUIZ)
    total = db.session.scalar(select(func.count()).select_from(lesson_ids.subquery())) or 0
    done = db.session.scalar(select(func.count()).select_from(LessonProgress).where(
        LessonProgress.enrollment_id == enrollment.id, LessonProgress.lesson_id.in_(lesson_ids),
        LessonProgress.completed_at.is_not(None))) or 0
    return round(done * 100 / total) if total else 100


# ---------------------------------------------------------------- signal handlers (inside the transaction)

def on_play_session_started(session, **extra):
    if not enabled():
        return
    lesson = db.session.get(Lesson, session.lesson_id)
    progress = db.session.get(LessonProgress, session.progress_id)
    course = lesson.chapter.course
    enqueue(statements.launched(user_id=session.user_id, course=course, lesson=lesson,
                                enrollment_id=progress.enrollment_id, at=session.started_at))


def on_lesson_completed(progress, **extra):
    if not enabled():
        return
    lesson = db.session.get(Lesson, progress.lesson_id)
    enrollment = db.session.get(Enrollment, progress.enrollment_id)
    course = lesson.chapter.course
    enqueue(statements.progressed(user_id=progress.user_id, course=course, lesson=lesson,
                                  enrollment_id=enrollment.id, at=progress.completed_at,
                                  percent=course_percent(enrollment)))


def on_course_completed(enrollment, **extra):
    if not enabled():
        return
    course = db.session.get(Course, enrollment.course_id)
    score = db.session.scalar(select(CreditRecord.exam_score).where(
        CreditRecord.user_id == enrollment.user_id, CreditRecord.course_id == enrollment.course_id)
        .order_by(CreditRecord.id.desc()).limit(1))
    enqueue(statements.completed(user_id=enrollment.user_id, course=course, enrollment_id=enrollment.id,
                                 at=enrollment.completed_at, exam_score=score))


def on_quiz_attempt_finished(attempt, **extra):
    if not enabled() or attempt.score is None:
        return
    course = db.session.get(Course, attempt.course_id)
    enqueue(statements.exam_result(user_id=attempt.user_id, course=course, enrollment_id=attempt.enrollment_id,
                                   at=attempt.submitted_at, score=attempt.score, passed=bool(attempt.passed)))


def connect_signals() -> None:
    signals.play_session_started.connect(on_play_session_started)
    signals.lesson_completed.connect(on_lesson_completed)
    signals.course_completed.connect(on_course_completed)
    signals.quiz_attempt_finished.connect(on_quiz_attempt_finished)


# ---------------------------------------------------------------- sending (by the outbox worker)

def statements_url() -> str | None:
    endpoint = current_app.config.get("LMS_XAPI_ENDPOINT")
    return endpoint.rstrip("/") + "/statements" if endpoint else None


@sender(CHANNEL)
def build_request(message) -> OutgoingRequest:
    url = statements_url()
    if url is None:  # kept pending (with backoff) until an LRS is configured again
        raise NotReady(_("LMS_XAPI_ENDPOINT 未设置，语句暂存待发。"))
    config = current_app.config
    auth = (config["LMS_XAPI_USERNAME"], config["LMS_XAPI_PASSWORD"]) if config.get("LMS_XAPI_USERNAME") else None
    return OutgoingRequest(url=url, body=message.payload.encode("utf-8"), auth=auth, also_delivered=frozenset({409}),
                           headers={"Content-Type": "application/json; charset=utf-8",
                                    "X-Experience-API-Version": statements.VERSION})
