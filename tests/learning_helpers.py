"""Helpers shared by the learning tests: drive lessons with heartbeats under a moved clock."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from lms.assessment.models import QuizQuestion
from lms.catalog.models import Course
from lms.core import clock
from lms.extensions import db
from lms.learning import exam, heartbeat, play, services
from lms.learning.heartbeat import Beat

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def course(db_session, code="GX-NS-001") -> Course:
    return db_session.scalar(select(Course).where(Course.code == code))


class Clock:
    """A movable clock for the services (lms.core.clock.freeze)."""

    def __init__(self, at=T0):
        self.at = at

    def advance(self, seconds: float):
        self.at += timedelta(seconds=seconds)

    def __call__(self):
        return clock.freeze(self.at)


def watch_video(user_id: int, lesson, tick: Clock, *, rate=1.0, step=10.0, event_at_end="ended"):
    """Play a video lesson from its start to its end, one beat per ``step`` seconds of wall time,
    answering each attention check when it is asked (one always is when the lesson's coverage is
    reached with time still waiting)."""
    with tick():
        session, progress = play.start_session(user_id, lesson.id)
    duration = session.duration_seconds
    pos, seq, result = 0.0, 0, None
    while pos < duration:
        tick.advance(step)
        end = min(duration, pos + step * rate)
        seq += 1
        with tick():
            result = heartbeat.record_heartbeat(user_id, Beat(
                session_id=session.id, seq=seq, position=end, segments=[[pos, end]], rate=rate,
                event=event_at_end if end >= duration else "tick"))
            if result.body.get("attention_check"):  # a diligent learner answers every check at once
                answered = play.answer_attention(user_id, session.id)
                result = type(result)(result.status, {**result.body, **answered})
        pos = end
    return session, result


def read_lesson(user_id: int, lesson, tick: Clock, *, step=12.0):
    with tick():
        session, _ = play.start_session(user_id, lesson.id)
    result = None
    for seq in range(1, int(services.reading_min_seconds() // step) + 3):
        tick.advance(step)
        with tick():
            result = heartbeat.record_heartbeat(user_id, Beat(session_id=session.id, seq=seq, position=0, segments=[]))
    return session, result


def study_all_lessons(user_id: int, course_obj, tick: Clock):
    for lesson in course_obj.lessons:
        if lesson.kind == "video":
            watch_video(user_id, lesson, tick)
        else:
            read_lesson(user_id, lesson, tick)


def correct_answers(attempt) -> dict:
    """The right answers in the letters this attempt shows (what a well-prepared learner ticks)."""
    answers = {}
    for item in attempt.layout:
        q = db.session.get(QuizQuestion, item["q"])
        answers[str(q.id)] = list(exam._to_shown(q, item["o"], q.answer)) if q.kind != "truefalse" else [q.answer]
    return answers
