"""Enrolment, play leases, heartbeats, attention checks, completion, exam and credit record —
services only, driven with a moved clock."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from lms.core import signals
from lms.core.errors import Conflict, NotAllowed, TooMany
from lms.credits.models import CreditRecord, RuleSet
from lms.credits.services import credit_year, rule_set_for
from lms.learning import exam, heartbeat, play, services
from lms.learning.heartbeat import Beat
from lms.learning.models import Enrollment, LessonProgress, PlaySession
from tests.learning_helpers import Clock, correct_answers, course, read_lesson, study_all_lessons, watch_video

pytestmark = pytest.mark.usefixtures("ctx")


@pytest.fixture
def learner(make_user):
    return make_user()


@pytest.fixture
def enrolled(db_session, learner):
    c = course(db_session)
    enrollment = services.enroll(learner, c.code)
    db_session.flush()
    return learner, c, enrollment


def video_lessons(c):
    return [lesson for lesson in c.lessons if lesson.kind == "video"]


def start_first_video(learner, course):
    """A clock and a play session of the course's first video lesson, started at the clock's time."""
    tick = Clock()
    with tick():
        session, progress = play.start_session(learner.id, video_lessons(course)[0].id)
    return tick, session, progress


def test_national_rule_set_is_seeded_and_regions_fall_back_to_it(db_session, learner):
    rule = rule_set_for(learner)
    assert rule.region_code is None and rule.annual_hours == 90 and rule.minutes_per_hour == 45
    assert rule.rates == [1.0, 1.25, 1.5] and rule.coverage_threshold == Decimal("0.95")
    regional = RuleSet(name="北京市规则", region_code="110000", allowed_rates="1", quiz_attempts=2)
    db_session.add(regional)
    db_session.flush()
    assert rule_set_for(learner) is regional


def test_credit_year_follows_the_cycle_end(app, db_session):
    from datetime import datetime

    calendar = RuleSet(name="x", cycle_end_month=12, cycle_end_day=31)
    april = RuleSet(name="y", cycle_end_month=4, cycle_end_day=30)
    assert credit_year(calendar, datetime(2026, 3, 1)) == 2026
    assert credit_year(april, datetime(2026, 3, 1)) == 2025
    assert credit_year(april, datetime(2026, 5, 1)) == 2026
    # 31 December 17:00 UTC is already 1 January in Beijing.
    assert credit_year(calendar, datetime(2026, 12, 31, 17, 0)) == 2027


def test_enrolment_is_free_idempotent_and_keeps_the_version(db_session, enrolled):
    learner, c, enrollment = enrolled
    assert services.enroll(learner, c.code).id == enrollment.id
    assert db_session.scalar(select(func.count()).select_from(Enrollment)
                             .where(Enrollment.user_id == learner.id)) == 1


def test_watching_a_video_credits_time_and_completes_the_lesson(db_session, enrolled):
    learner, c, _ = enrolled
    lesson = video_lessons(c)[0]
    session, result = watch_video(learner.id, lesson, Clock())
    body = result.body
    assert body["watched_percent"] == 100 and body["completed"]
    assert body["credited_seconds"] == pytest.approx(session.duration_seconds, abs=0.5)
    assert body["not_counted"] == []


def test_forward_seek_credits_nothing_and_is_explained(db_session, enrolled):
    learner, c, _ = enrolled
    tick, session, progress = start_first_video(learner, c)
    tick.advance(10)
    with tick():
        result = heartbeat.record_heartbeat(learner.id, Beat(session.id, 1, 28, [[20, 28]]))
    assert result.body["credited_seconds"] == 0 and result.body["watched_percent"] == 0
    assert result.body["not_counted"][0]["reason"] == "seek"
    assert progress.resume_position == 0  # never beyond the furthest point


def test_segments_beyond_the_wall_clock_are_not_credited(db_session, enrolled):
    learner, c, _ = enrolled
    tick, session, progress = start_first_video(learner, c)
    tick.advance(5)
    with tick():
        heartbeat.record_heartbeat(learner.id, Beat(session.id, 1, 30, [[0, 30]]))
    assert progress.credited_seconds + progress.pending_seconds <= 5 + 2
    assert progress.not_counted["over_wallclock"] >= 23


def test_hidden_page_and_disallowed_rate_are_not_credited(db_session, enrolled):
    learner, c, _ = enrolled
    tick, session, progress = start_first_video(learner, c)
    tick.advance(10)
    with tick():
        heartbeat.record_heartbeat(learner.id, Beat(session.id, 1, 10, [[0, 10]], visible=False))
    tick.advance(5)
    with tick():
        heartbeat.record_heartbeat(learner.id, Beat(session.id, 2, 10, [[0, 10]], rate=2.0))
    assert progress.credited_seconds + progress.pending_seconds == 0
    assert progress.not_counted["hidden"] == 10 and progress.not_counted["rate"] == 10


def test_a_retried_beat_changes_nothing(db_session, enrolled):
    learner, c, _ = enrolled
    tick, session, progress = start_first_video(learner, c)
    tick.advance(10)
    beat = Beat(session.id, 1, 10, [[0, 10]])
    with tick():
        first = heartbeat.record_heartbeat(learner.id, beat)
    counted = progress.credited_seconds + progress.pending_seconds  # pending: awaits the next attention check
    tick.advance(10)
    with tick():
        again = heartbeat.record_heartbeat(learner.id, beat)
    assert first.status == "ok" and again.status == "duplicate"
    assert progress.credited_seconds + progress.pending_seconds == counted == 10


def test_starting_elsewhere_supersedes_the_old_session(db_session, enrolled):
    learner, c, _ = enrolled
    first_lesson, second_lesson = video_lessons(c)[:2]
    tick = Clock()
    with tick():
        old, _ = play.start_session(learner.id, first_lesson.id)
    tick.advance(10)
    with tick():
        heartbeat.record_heartbeat(learner.id, Beat(old.id, 1, 10, [[0, 10]]))
        new, _ = play.start_session(learner.id, second_lesson.id)
    tick.advance(10)
    with tick():
        stale = heartbeat.record_heartbeat(learner.id, Beat(old.id, 2, 20, [[10, 20]]))
    assert stale.status == "superseded" and "其他页面或设备" in stale.body["message"]
    progress = db_session.scalar(select(LessonProgress).where(LessonProgress.lesson_id == first_lesson.id,
                                                              LessonProgress.user_id == learner.id))
    # Time before the switch kept, nothing after: it waits for the learner's next attention check,
    # as it would have had the session continued (closing a session credits nothing by itself).
    assert progress.credited_seconds + progress.pending_seconds == 10
    assert progress.not_counted["superseded"] == 10
    active = db_session.scalar(select(func.count()).select_from(PlaySession).where(
        PlaySession.user_id == learner.id, PlaySession.superseded_at.is_(None)))
    assert active == 1


def _frequent_checks(db_session, **kw):
    rule = RuleSet(name="测试规则", region_code="110000", attention_check_min_seconds=20,
                   attention_check_max_seconds=20, attention_window_seconds=30, **kw)
    db_session.add(rule)
    db_session.flush()
    return rule


def _play_until_a_check(db_session, learner, c):
    """20 s of play under a rule that asks for a check after 20 s; returns the clock, session,
    progress and the last beat's result."""
    _frequent_checks(db_session)
    tick, session, progress = start_first_video(learner, c)
    for seq in (1, 2):
        tick.advance(10)
        with tick():
            result = heartbeat.record_heartbeat(learner.id, Beat(session.id, seq, seq * 10, [[seq * 10 - 10, seq * 10]]))
    return tick, session, progress, result


def test_an_unanswered_attention_check_loses_the_time_since_the_previous_check(db_session, enrolled):
    learner, c, _ = enrolled
    tick, session, progress, result = _play_until_a_check(db_session, learner, c)
    assert result.body["attention_check"] is not None and result.body["pending_seconds"] == 20
    assert progress.credited_seconds == 0
    tick.advance(40)  # the window (30 s) and the grace pass without an answer
    with tick():
        result = heartbeat.record_heartbeat(learner.id, Beat(session.id, 3, 20, []))
    assert result.body["attention_missed"] == 20
    assert progress.credited_seconds == 0 and progress.not_counted["attention"] == 20


def test_an_answered_attention_check_credits_the_pending_time(db_session, enrolled):
    learner, c, _ = enrolled
    tick, session, progress, _ = _play_until_a_check(db_session, learner, c)
    tick.advance(5)
    with tick():
        body = play.answer_attention(learner.id, session.id)
    assert body["attention"] == "passed" and progress.credited_seconds == 20


def test_reading_lesson_completes_after_the_minimum_reading_time(db_session, enrolled):
    learner, c, _ = enrolled
    lesson = next(lesson for lesson in c.lessons if lesson.kind == "reading")
    _, result = read_lesson(learner.id, lesson, Clock())
    assert result.body["completed"]


def test_objects_of_other_learners_are_refused(db_session, enrolled, make_user):
    learner, c, enrollment = enrolled
    other = make_user()
    lesson = video_lessons(c)[0]
    with Clock()():
        session, progress = play.start_session(learner.id, lesson.id)
    with pytest.raises(NotAllowed):
        heartbeat.record_heartbeat(other.id, Beat(session.id, 1, 1, [[0, 1]]))
    with pytest.raises(NotAllowed):
        play.answer_attention(other.id, session.id)
    with pytest.raises(NotAllowed):
        services.get_own_progress(other, progress.id)
    with pytest.raises(NotAllowed):  # not enrolled: no lease on this course
        play.start_session(other.id, lesson.id)


def test_from_enrolment_to_a_credit_record(db_session, enrolled):
    learner, c, enrollment = enrolled
    completed = []
    signals.course_completed.connect(completed.append, weak=False)
    try:
        tick = Clock()
        with tick(), pytest.raises(Conflict, match="先完成全部课时"):
            exam.start_attempt(learner, enrollment)
        study_all_lessons(learner.id, c, tick)
        state = services.course_state(enrollment)
        assert state.lessons_done and not state.exam_passed and enrollment.completed_at is None

        # A failed attempt first: nothing is recorded.
        with tick():
            attempt = exam.start_attempt(learner, enrollment)
            shown = exam.shown_questions(attempt, reveal=False)
            assert all(q.correct_shown is None for q in shown)
            failed = exam.submit_attempt(learner, attempt, {})
        assert failed.score == 0 and not failed.passed and enrollment.completed_at is None
        with tick(), pytest.raises(Conflict):
            exam.submit_attempt(learner, attempt, {})

        with tick():
            attempt = exam.start_attempt(learner, enrollment)
            passed = exam.submit_attempt(learner, attempt, correct_answers(attempt))
        assert passed.score == 100 and passed.passed
        record = db_session.scalar(select(CreditRecord).where(CreditRecord.user_id == learner.id))
        assert record.hours == c.credit_hours and record.category == "public" and record.exam_score == 100
        assert record.credit_year == 2026 and record.course_version == c.version and record.course_code == c.code
        assert enrollment.completed_at is not None
        # Idempotent: calling again writes nothing and emits nothing.
        with tick():
            assert services.complete_course_if_done(enrollment) is None
        assert completed == [enrollment]
        assert db_session.scalar(select(func.count()).select_from(CreditRecord)
                                 .where(CreditRecord.user_id == learner.id)) == 1
    finally:
        signals.course_completed.disconnect(completed.append)


def test_attempts_are_limited_by_the_rule_set(db_session, enrolled):
    learner, c, enrollment = enrolled
    db_session.add(RuleSet(name="两次机会", region_code="110000", quiz_attempts=2))
    tick = Clock()
    study_all_lessons(learner.id, c, tick)
    with tick():
        for _ in range(2):
            exam.submit_attempt(learner, exam.start_attempt(learner, enrollment), {})
        with pytest.raises(Conflict, match="最多可参加 2 次"):
            exam.start_attempt(learner, enrollment)


# ---------------------------------------------------------------- the learner's budget

def test_a_lost_request_costs_nothing_and_a_lost_response_credits_nothing_twice(db_session, enrolled):
    learner, c, _ = enrolled
    tick, session, progress = start_first_video(learner, c)  # a 30 s video
    tick.advance(5)
    with tick():
        heartbeat.record_heartbeat(learner.id, Beat(session.id, 1, 5, [[0, 5]]))
    # Beat 2 never arrives; beat 3 carries its segments again.
    tick.advance(10)
    with tick():
        body = heartbeat.record_heartbeat(learner.id, Beat(session.id, 3, 15, [[10, 15]],
                                                          resend=((2, [[5, 10]]),))).body
    assert body["acked_seq"] == 3 and body["accepted"] == [[5, 10], [10, 15]]
    assert progress.credited_seconds + progress.pending_seconds == pytest.approx(15)
    # Beat 4 arrives and is credited, but its answer is lost: beat 5 resends it, and it counts once.
    tick.advance(5)
    with tick():
        heartbeat.record_heartbeat(learner.id, Beat(session.id, 4, 20, [[15, 20]]))
    tick.advance(5)
    with tick():
        body = heartbeat.record_heartbeat(learner.id, Beat(session.id, 5, 25, [[20, 25]],
                                                          resend=((4, [[15, 20]]),))).body
    assert body["accepted"] == [[20, 25]]
    assert progress.credited_seconds + progress.pending_seconds == pytest.approx(25)
    assert progress.watched_seconds == pytest.approx(25)
    assert "over_wallclock" not in (progress.not_counted or {})


def test_a_pause_credits_nothing_and_a_due_check_is_due_whatever_the_beat_is_called(db_session, enrolled):
    learner, c, _ = enrolled
    _frequent_checks(db_session)  # a check after 20 s of play
    tick, session, progress = start_first_video(learner, c)
    tick.advance(10)
    with tick():
        body = heartbeat.record_heartbeat(learner.id, Beat(session.id, 1, 10, [[0, 10]], event="pause")).body
    assert progress.credited_seconds == 0 and body["pending_seconds"] == 10
    tick.advance(10)
    with tick():
        body = heartbeat.record_heartbeat(learner.id, Beat(session.id, 2, 20, [[10, 20]], event="ended")).body
    assert body["attention_check"] is not None and progress.credited_seconds == 0


def test_a_new_session_takes_over_the_allowance_and_the_check(db_session, enrolled):
    learner, c, _ = enrolled
    _frequent_checks(db_session)
    first, second = video_lessons(c)[:2]
    tick, session, progress = start_first_video(learner, c)
    for seq in (1, 2):
        tick.advance(10)
        with tick():
            heartbeat.record_heartbeat(learner.id, Beat(session.id, seq, seq * 10, [[seq * 10 - 10, seq * 10]]))
    # A check is due; a fresh session on another lesson does not shake it off…
    with tick():
        fresh, _ = play.start_session(learner.id, second.id)
    assert fresh.check_issued_at is not None and fresh.slack_seconds <= 2
    tick.advance(5)
    with tick():
        body = heartbeat.record_heartbeat(learner.id, Beat(fresh.id, 1, 5, [[0, 5]]))
    assert body.body["beat_not_counted"] == {"attention": 5}
    # …and answering it credits the waiting time in every lesson.
    with tick():
        play.answer_attention(learner.id, fresh.id)
    assert progress.credited_seconds == 20 and progress.pending_seconds == 0


def test_a_new_session_starts_with_no_allowance(db_session, enrolled):
    learner, c, _ = enrolled
    lesson = video_lessons(c)[0]
    tick = Clock()
    total = 0.0
    for _ in range(5):  # start, then at once a beat claiming a long stretch at 1.5×
        with tick():
            session, progress = play.start_session(learner.id, lesson.id)
            heartbeat.record_heartbeat(learner.id, Beat(session.id, 1, 0, [[progress.furthest_point,
                                                                          progress.furthest_point + 30]], rate=1.5))
        total = progress.credited_seconds + progress.pending_seconds
    assert total == 0  # no wall-clock time passed: nothing to credit


def test_session_starts_are_limited_per_learner(app, db_session, enrolled):
    learner, c, _ = enrolled
    lesson = video_lessons(c)[0]
    tick = Clock()
    limit = play.session_starts_per_minute()
    for _ in range(limit):
        tick.advance(1)
        with tick():
            play.start_session(learner.id, lesson.id)
    with tick(), pytest.raises(TooMany, match="开始播放过于频繁"):
        play.start_session(learner.id, lesson.id)
    tick.advance(60)
    with tick():
        play.start_session(learner.id, lesson.id)  # a minute on: allowed again


def test_no_lesson_completes_before_a_check_is_passed(db_session, enrolled):
    learner, c, _ = enrolled
    tick, session, progress = start_first_video(learner, c)  # national rule: checks every 5–15 min
    seq, pos = 0, 0.0
    while pos < session.duration_seconds:
        tick.advance(10)
        seq += 1
        end = min(session.duration_seconds, pos + 10)
        with tick():
            result = heartbeat.record_heartbeat(learner.id, Beat(session.id, seq, end, [[pos, end]], event="ended"))
        pos = end
    # Coverage reached with the time still waiting: the learner is asked; nothing completes unasked.
    assert result.body["attention_check"] is not None
    assert progress.completed_at is None and progress.credited_seconds == 0
    with tick():
        body = play.answer_attention(learner.id, session.id)
    assert body["attention"] == "passed" and body["completed"]
    assert progress.credited_seconds == pytest.approx(session.duration_seconds)


def test_the_closing_check_is_asked_once_and_the_lesson_completes_only_when_it_is_answered(db_session, enrolled):
    learner, c, _ = enrolled
    db_session.add(RuleSet(name="测试规则", region_code="110000", attention_check_min_seconds=10,
                           attention_check_max_seconds=10, attention_window_seconds=30))
    db_session.flush()
    tick, session, progress = start_first_video(learner, c)  # 30 s of video, checks every 10 s of play
    asked, open_check = 0, False
    for seq, second in enumerate(range(1, 31), start=1):  # one beat a second at 1×, every check answered at once
        tick.advance(1)
        with tick():
            body = heartbeat.record_heartbeat(learner.id, Beat(session.id, seq, second, [[second - 1, second]])).body
            if body["attention_check"] and not open_check:
                asked += 1
            open_check = bool(body["attention_check"])
            if open_check and second < 29:  # the closing check (coverage reached at 28.5 s) is left open
                play.answer_attention(learner.id, session.id)
                open_check = False
        if second >= 29:
            assert not body["completed"], "completed with a check still open"
    with tick():
        body = play.answer_attention(learner.id, session.id)
    assert body["completed"] and asked == 3  # at 10 s, 20 s, and once at the end


def test_the_beat_that_completes_a_lesson_brings_the_course_state(db_session, enrolled):
    """The player updates the outline and offers the exam without a reload: the answer that completes a
    lesson carries the course's counts and the exam's state; other answers do not."""
    learner, c, _ = enrolled
    last = next(lesson for lesson in c.lessons if lesson.kind == "reading")
    tick = Clock()
    for lesson in c.lessons:
        if lesson.id == last.id:
            continue
        if lesson.kind == "video":
            watch_video(learner.id, lesson, tick)
        else:
            read_lesson(learner.id, lesson, tick)
    with tick():
        session, _ = play.start_session(learner.id, last.id)
    bodies = []
    for seq in range(1, int(services.reading_min_seconds() // 12) + 3):
        tick.advance(12)
        with tick():
            bodies.append(heartbeat.record_heartbeat(
                learner.id, Beat(session_id=session.id, seq=seq, position=0, segments=[])).body)
    with_course = [b for b in bodies if "course" in b]
    assert len(with_course) == 1 and with_course[0]["completed"]  # only the completing beat
    summary = with_course[0]["course"]
    total = len(c.lessons)
    assert summary["completed_lessons"] == summary["lessons"] == total and summary["lessons_done"]
    assert summary["progress_text"] == f"已完成 {total} / {total}"
    assert summary["has_exam"] and not summary["exam_passed"] and summary["exam_status"] == "可以参加"
