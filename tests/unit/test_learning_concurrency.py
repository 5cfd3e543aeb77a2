"""Two sessions of one learner, started and beating at the same moment from different threads,
each with its own connection to a real database (its own, committed): time is credited at most once.
Also with each beat in a POST request of its own, as served (on SQLite the request's transaction
holds the write lock from BEGIN IMMEDIATE, and the heartbeat takes no lock of its own)."""

import contextlib
import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from lms.accounts.models import User
from lms.core import clock
from lms.core.database import writing
from lms.extensions import db
from lms.learning import heartbeat, play, services
from lms.learning.heartbeat import Beat
from lms.learning.models import LessonProgress, PlaySession
from tests.conftest import (
    committed_app,
    credit_code,
    id_number,
    session_per_thread,
)
from tests.learning_helpers import T0

ROUNDS = 3  # the demo clip is 30 s long


@contextlib.contextmanager
def count_write_locks(app, seen: list):
    """Collect the heartbeat's own lock statements (SQLite's no-op UPDATE of the play session)."""

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("UPDATE play_session SET id="):
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", capture)


@pytest.fixture(scope="module")
def own_app(tmp_path_factory):
    with committed_app(tmp_path_factory.mktemp("concurrency"), "conc", packages=("GX-NS-001",)) as application:
        yield application


@pytest.mark.parametrize("in_requests", [False, True], ids=["services", "requests"])
def test_concurrent_sessions_credit_time_at_most_once(own_app, monkeypatch, in_requests):
    session_per_thread(own_app, monkeypatch)
    with own_app.test_request_context():
        from lms.accounts import services as accounts

        user = accounts.create_person(None, accounts.PersonData(
            real_name="并发学员", id_number=id_number(f"1101051990010177{int(in_requests)}"), password="Study2026ok",
            mobile=f"1370000077{int(in_requests)}", region_code="110000", employer_name="测试单位",
            employer_credit_code=credit_code("91110105MA01ABCD2")))
        db.session.commit()
        user_id = user.id
        enrollment = services.enroll(user, "GX-NS-001")
        lesson_id = next(lesson.id for lesson in enrollment.course.lessons if lesson.kind == "video")
        db.session.commit()
        db.session.remove()

    # The clock is process-wide: both threads see the same moment, set once per round by the
    # barrier's action (clock.freeze's save/restore is not meant for concurrent threads).
    rounds = iter(range(ROUNDS + 1))

    def next_moment():
        monkeypatch.setattr(clock, "_frozen", T0 + timedelta(seconds=10 * next(rounds)))

    barrier = threading.Barrier(2, action=next_moment)
    errors, statuses = [], []

    def learner_tab():
        try:
            with own_app.app_context():
                barrier.wait()
                session, _ = play.start_session(user_id, lesson_id)
                sid = session.id  # read before the commit expires it (a read would open a snapshot)
                db.session.commit()
                db.session.remove()
            for n in range(1, ROUNDS + 1):
                beating = (own_app.test_request_context("/api/v1/learning/heartbeat", method="POST")
                           if in_requests else own_app.app_context())
                with beating:
                    barrier.wait()
                    result = heartbeat.record_heartbeat(user_id, Beat(
                        sid, n, 10 * n, [[10 * (n - 1), 10 * n]], event="pause"))
                    db.session.commit()
                    statuses.append(result.status)
                    db.session.remove()
        except Exception as exc:  # reported below, with the thread's traceback
            errors.append(exc)
            barrier.abort()

    locks = []
    threads = [threading.Thread(target=learner_tab) for _ in range(2)]
    with count_write_locks(own_app, locks):
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    if own_app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # Out of a request, every beat locks first; in a POST request BEGIN IMMEDIATE already did.
        assert len(locks) == (0 if in_requests else 2 * ROUNDS)

    with own_app.app_context():
        active = db.session.scalar(select(func.count()).select_from(PlaySession).where(
            PlaySession.user_id == user_id, PlaySession.superseded_at.is_(None)))
        progress = db.session.scalar(select(LessonProgress).where(LessonProgress.user_id == user_id))
        pending = progress.pending_seconds
        db.session.remove()
    assert active == 1  # the two starts were serialized: one lease
    assert statuses.count("ok") == ROUNDS and statuses.count("superseded") == ROUNDS
    # Wall clock: 10 s per round; both tabs reported the same 10 s, credited once.
    assert progress.credited_seconds + pending <= 10 * ROUNDS + 2
    assert progress.credited_seconds + pending >= 10 * ROUNDS - 1


@pytest.mark.parametrize("in_requests", [False, True], ids=["services", "requests"])
def test_parallel_starts_of_the_exam_never_give_more_attempts_than_the_rules_allow(own_app, monkeypatch, in_requests):
    """A double click (or four tabs) on 开始测验 with one attempt left: one attempt, not four."""
    from lms.accounts import services as accounts
    from lms.core.errors import Conflict
    from lms.learning import exam as exams
    from lms.learning.models import Enrollment, QuizAttempt
    from tests.learning_helpers import Clock, course, study_all_lessons

    session_per_thread(own_app, monkeypatch)
    with own_app.test_request_context():
        user = accounts.create_person(None, accounts.PersonData(
            real_name="并发考生", id_number=id_number(f"1101051990010188{int(in_requests)}"), password="Study2026ok",
            mobile=f"1370000088{int(in_requests)}", region_code="110000", employer_name="测试单位",
            employer_credit_code=credit_code("91110105MA01ABCD2")))
        enrollment = services.enroll(user, "GX-NS-001")
        db.session.commit()
        study_all_lessons(user.id, course(db.session), Clock())
        allowed = exams.exam_rules(user, enrollment.course).attempts
        for _ in range(allowed - 1):  # every attempt but one used, failed
            exams.submit_attempt(user, exams.start_attempt(user, enrollment), {})
        db.session.commit()
        user_id, enrollment_id = user.id, enrollment.id
        db.session.remove()

    barrier = threading.Barrier(4)
    errors, started = [], []

    def tab():
        try:
            # As served: a POST's transaction (SQLite: BEGIN IMMEDIATE); or a job's, inside writing().
            context = (own_app.test_request_context("/learn/GX-NS-001/exam/start", method="POST") if in_requests
                       else own_app.app_context())
            barrier.wait()
            with context, (contextlib.nullcontext() if in_requests else writing()):
                learner, enrolled = db.session.get(User, user_id), db.session.get(Enrollment, enrollment_id)
                try:
                    started.append(exams.start_attempt(learner, enrolled).id)
                    db.session.commit()
                except Conflict:
                    db.session.rollback()
                db.session.remove()
        except Exception as exc:  # reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=tab) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    with own_app.app_context():
        attempts = db.session.scalar(select(func.count(QuizAttempt.id)).where(QuizAttempt.enrollment_id == enrollment_id))
        db.session.remove()
    assert attempts == allowed and len(set(started)) == 1, (attempts, started)
