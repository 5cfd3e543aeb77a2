"""Play leases, attention checks and lesson completion: everything about a learner's play session
but the heartbeat itself (``heartbeat``).

A learner holds one play lease at a time: starting a session supersedes the others and takes over
their per-learner crediting state (the allowance and the attention schedule; see ``crediting``).
Under attention checks, time waits in the lesson's ``pending_seconds`` until the learner answers a
check in time; a missed check forfeits it. A lesson is complete when the rules say so; the signal
``lesson_completed`` then lets course completion react.
"""

import secrets
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from ..accounts.models import User
from ..catalog.models import Chapter, Lesson, LessonKind
from ..core import signals
from ..core.clock import utcnow_naive
from ..core.enums import N_
from ..core.errors import Conflict, NotAllowed, NotFound, TooMany
from ..credits import services as credits
from ..extensions import db
from . import crediting
from .models import Enrollment, LessonProgress, PlaySession
from .services import (
    course_summary,
    heartbeat_seconds,
    lesson_duration,
    lock_for_write,
    progress_summary,
    system_random,
)

ATTENTION_GRACE_SECONDS = 3  # network delay allowed on top of the answer window
COMPLETION_EPSILON_SECONDS = 0.5
SUPERSEDED_MESSAGE = N_("已在其他页面或设备播放，本页面已停止计时。")  # translated where it is sent


def _get_or_create_progress(user_id: int, lesson: Lesson, enrollment: Enrollment) -> LessonProgress:
    progress = db.session.scalar(select(LessonProgress).where(
        LessonProgress.user_id == user_id, LessonProgress.lesson_id == lesson.id).with_for_update())
    if progress is None:
        progress = LessonProgress(user_id=user_id, lesson_id=lesson.id, enrollment_id=enrollment.id,
                                  watched_intervals=[], not_counted={})
        db.session.add(progress)
        db.session.flush()
    return progress


def load_lesson(enrollment: Enrollment, lesson_id: int) -> Lesson:
    lesson = db.session.scalar(select(Lesson).join(Chapter).where(
        Lesson.id == lesson_id, Chapter.course_id == enrollment.course_id))
    if lesson is None:
        raise NotFound(_("该课时不属于您报名的课程版本。"))
    return lesson


def session_starts_per_minute() -> int:
    return int(current_app.config["LMS_SESSION_STARTS_PER_MINUTE"])


def start_session(user_id: int, lesson_id: int) -> tuple[PlaySession, LessonProgress]:
    """Take the learner's play lease for a lesson: any other active session is superseded.

    The per-learner state of the crediting rules (the wall-clock allowance and the attention-check
    schedule) is taken over from the superseded session, so a new session creates no allowance and
    postpones no check. Starts are limited per learner (LMS_SESSION_STARTS_PER_MINUTE).
    """
    # Serialize lease changes per learner: lock the user row (the write lock on SQLite) first.
    lock_for_write(User, user_id)
    actor = db.session.scalar(select(User).where(User.id == user_id).with_for_update())
    lesson = db.session.get(Lesson, lesson_id)
    if lesson is None or lesson.kind == LessonKind.QUIZ:
        raise NotFound(_("没有找到可以学习的课时。"))
    enrollment = db.session.scalar(select(Enrollment).where(
        Enrollment.user_id == user_id, Enrollment.course_id == lesson.chapter.course_id))
    if enrollment is None:
        raise NotAllowed(_("您还没有报名这门课程（或报名的是其他版本），不能计时学习。"))
    duration = lesson_duration(lesson)
    if lesson.kind == LessonKind.VIDEO and (not lesson.media_asset or not lesson.media_asset.is_playable):
        raise Conflict(_("该课时的视频尚未就绪，请稍后再试。"))
    # Lock the sessions being superseded before reading the clock: a beat that holds one of them was
    # credited up to its own clock, which must not be later than this session's start (PostgreSQL
    # lets such a beat run while this transaction waits; SQLite has one writer).
    previous = list(db.session.scalars(select(PlaySession).where(
        PlaySession.user_id == user_id, PlaySession.superseded_at.is_(None))
        .order_by(PlaySession.started_at, PlaySession.id).with_for_update()
        .execution_options(populate_existing=True)))
    now = utcnow_naive()
    _limit_starts(user_id, now)
    for old in previous:
        old.superseded_at = now
    rule = credits.rule_set_for(actor)
    progress = _get_or_create_progress(user_id, lesson, enrollment)
    carried = _carried_state(previous, rule)
    session = PlaySession(
        id=secrets.token_hex(16), user_id=user_id, lesson_id=lesson.id, progress_id=progress.id,
        kind=lesson.kind, duration_seconds=duration, allowed_rates=rule.allowed_rates,
        coverage_threshold=float(rule.coverage_threshold), started_at=now, last_beat_at=now, seq=0,
        check_min_seconds=rule.attention_check_min_seconds, check_max_seconds=rule.attention_check_max_seconds,
        check_window_seconds=rule.attention_window_seconds, **carried)
    db.session.add(session)
    enrollment.last_lesson_id = lesson.id
    enrollment.last_studied_at = now
    db.session.flush()
    if carried["check_issued_at"] is not None and check_overdue(session, now):
        session.attention_missed = miss_check(session, None)
    maybe_complete_lesson(progress, session, now)
    signals.play_session_started.send(session)
    return session, progress


def _limit_starts(user_id: int, now: datetime) -> None:
    limit = session_starts_per_minute()
    recent = list(db.session.scalars(select(PlaySession.started_at).where(
        PlaySession.user_id == user_id, PlaySession.started_at > now - timedelta(seconds=60))
        .order_by(PlaySession.started_at.desc()).limit(limit)))
    if len(recent) >= limit:
        wait = max(1, int(60 - (now - recent[-1]).total_seconds()) + 1)
        raise TooMany(_("开始播放过于频繁：一分钟内最多开始 %(limit)s 次。请等待 %(wait)s 秒后再点击播放，"
                        "已记录的学习时间不受影响。", limit=limit, wait=wait))


def _carried_state(previous: list[PlaySession], rule) -> dict:
    """What a new session takes over from the learner's superseded one: the unused allowance (never
    above the one tolerance), the time since the last attention check, the drawn check point and a
    check still awaiting its answer. A learner's first session starts with no allowance."""
    checks = rule.attention_check_min_seconds > 0
    low, high = rule.attention_check_min_seconds, rule.attention_check_max_seconds
    last = previous[-1] if previous else None
    if last is None:
        return {"slack_seconds": 0.0, "since_check_seconds": 0.0, "check_issued_at": None,
                "check_after_seconds": _next_check(low, high) if checks else None}
    check_after = last.check_after_seconds
    if not checks:
        check_after = None
    elif check_after is None:
        check_after = _next_check(low, high)
    return {"slack_seconds": min(crediting.TOLERANCE_SECONDS, max(s.slack_seconds for s in previous)),
            "since_check_seconds": max(s.since_check_seconds for s in previous),
            "check_after_seconds": check_after,
            "check_issued_at": last.check_issued_at if checks else None}


def _next_check(low: int, high: int) -> float:
    return round(system_random.uniform(low, max(low, high)), 1)



def load_own_session(user_id: int, session_id: str) -> tuple[PlaySession, LessonProgress]:
    """The play session and its lesson progress, both locked, in one query."""
    lock_for_write(PlaySession, session_id)
    row = db.session.execute(
        select(PlaySession, LessonProgress, User.is_active_account)
        .join(LessonProgress, LessonProgress.id == PlaySession.progress_id)
        .join(User, User.id == PlaySession.user_id)
        .where(PlaySession.id == session_id)
        .with_for_update(of=(PlaySession.__table__, LessonProgress.__table__))).first()
    if row is None:
        raise NotFound(_("播放会话不存在，请刷新页面。"))
    session, progress, active = row
    if session.user_id != user_id or not active:
        raise NotAllowed(_("这不是您的播放会话。"))
    return session, progress



def under_checks(session) -> bool:
    """Whether this session's credit waits for attention checks (video, with checks in the rule set)."""
    return session.kind == LessonKind.VIDEO and session.check_after_seconds is not None


def _coverage_reached(progress, session) -> bool:
    return progress.watched_seconds >= session.coverage_threshold * session.duration_seconds - 1e-6


def done_once_confirmed(progress, session) -> bool:
    """The lesson's coverage is reached and, with the time now waiting credited, so is its time: the
    moment to ask for the lesson's closing check (once, rather than at every beat until then)."""
    required = session.duration_seconds / max(rates(session) or [1.0])
    return (_coverage_reached(progress, session)
            and progress.credited_seconds + progress.pending_seconds + COMPLETION_EPSILON_SECONDS >= required)


def rates(session: PlaySession) -> list[float]:
    return [float(r) for r in session.allowed_rates.split(",") if r.strip()]


def check_overdue(session: PlaySession, now: datetime) -> bool:
    deadline = session.check_issued_at + timedelta(seconds=session.check_window_seconds + ATTENTION_GRACE_SECONDS)
    return now > deadline


def next_schedule(session) -> None:
    session.check_issued_at = None
    session.since_check_seconds = 0.0
    session.check_after_seconds = _next_check(session.check_min_seconds, session.check_max_seconds)


def miss_check(session, progress) -> float:
    """An unanswered check: the time charged since the previous check that still waits, in every
    lesson of the learner, is not credited. ``progress`` is the session's own row when the caller holds
    it outside the ORM (the heartbeat); the other lessons' rows are changed through the ORM."""
    lost = 0.0
    own_id = progress.id if progress is not None else None
    if progress is not None and progress.pending_seconds > 0:
        lost += progress.pending_seconds
        progress.not_counted = crediting.add_tallies(progress.not_counted, {"attention": progress.pending_seconds})
        progress.pending_seconds = 0.0
    for other in pending_rows(session.user_id, exclude=own_id):
        lost += other.pending_seconds
        other.not_counted = crediting.add_tallies(other.not_counted, {"attention": other.pending_seconds})
        other.pending_seconds = 0.0
    session.checks_missed += 1
    next_schedule(session)
    return round(lost, 1)


def pending_rows(user_id: int, *, exclude: int | None = None) -> list[LessonProgress]:
    query = select(LessonProgress).where(LessonProgress.user_id == user_id, LessonProgress.pending_seconds > 0)
    if exclude is not None:
        query = query.where(LessonProgress.id != exclude)
    return list(db.session.scalars(query.with_for_update()))


def _flush_pending(progress) -> None:
    progress.credited_seconds = round(progress.credited_seconds + progress.pending_seconds, 3)
    progress.pending_seconds = 0.0


def answer_attention(user_id: int, session_id: str) -> dict:
    """The learner clicked "I am here". In time: the time charged since the last check is credited,
    in every lesson it waits in."""
    session, progress = load_own_session(user_id, session_id)
    now = utcnow_naive()
    if session.superseded_at is not None:
        return {"status": "superseded", "message": _(SUPERSEDED_MESSAGE)}
    extra = {}
    if session.check_issued_at is None:
        extra["attention"] = "none"
    elif check_overdue(session, now):
        extra["attention_missed"] = miss_check(session, None)
    else:
        session.checks_passed += 1
        next_schedule(session)
        session.last_beat_at = now  # the pause while the prompt was shown is not play time
        extra["attention"] = "passed"
        was_complete = progress.completed_at is not None
        for row in pending_rows(user_id):
            _flush_pending(row)
            db.session.flush()
            _complete_if_done(row, session, now)
        if progress.completed_at is not None and not was_complete:  # the outline and the exam change with it
            extra["course"] = course_summary(progress.enrollment_id)
    body = beat_body(session, progress, {})
    body.update(extra)
    return body


def _complete_if_done(progress: LessonProgress, session: PlaySession, now: datetime) -> None:
    """Completion of a lesson whose waiting time was just credited: its own session's figures when it is
    the session's lesson, else the lesson's own duration and the learner's rule set."""
    if progress.id == session.progress_id:
        maybe_complete_lesson(progress, session, now)
        return
    lesson = db.session.get(Lesson, progress.lesson_id)
    rule = credits.rule_set_for(db.session.get(User, session.user_id))
    probe = PlaySession(kind=lesson.kind, duration_seconds=lesson_duration(lesson), allowed_rates=rule.allowed_rates,
                        coverage_threshold=float(rule.coverage_threshold))
    maybe_complete_lesson(progress, probe, now)


def start_body(session: PlaySession, progress: LessonProgress) -> dict:
    """What the player gets when it takes the lease: the lesson's progress, the session, and a check
    the learner still owes (carried from the session this one superseded) or just missed."""
    body = beat_body(session, progress, {})
    body.update({"session_id": session.id, "seq": 0, "acked_seq": 0, "heartbeat_seconds": heartbeat_seconds(),
                 "allowed_rates": rates(session)})
    if session.attention_missed is not None:
        body["attention_missed"] = session.attention_missed
    return body


def beat_body(session: PlaySession, progress: LessonProgress, not_counted: dict) -> dict:
    duration = session.duration_seconds
    body = progress_summary(progress, duration)
    if session.kind != LessonKind.VIDEO:
        body["watched_percent"] = 100 if progress.completed_at else min(
            100, int(progress.credited_seconds * 100 // duration)) if duration else 0
    body.update({
        "status": "ok", "seq": session.seq, "acked_seq": session.seq,
        "pending_seconds": round(progress.pending_seconds, 1),
        "beat_not_counted": {r: round(s, 1) for r, s in not_counted.items()},
        "attention_check": None,
    })
    if session.check_issued_at is not None:
        remaining = session.check_window_seconds - (utcnow_naive() - session.check_issued_at).total_seconds()
        body["attention_check"] = {"window_seconds": session.check_window_seconds,
                                   "remaining_seconds": max(0, round(remaining))}
    return body


# ---------------------------------------------------------------- completion

def maybe_complete_lesson(progress: LessonProgress, session: PlaySession, now: datetime) -> None:
    if progress.completed_at is not None or not lesson_done(progress, session):
        return
    progress.completed_at = now
    db.session.flush()
    lesson_completed(progress)


def lesson_done(progress, session) -> bool:
    """Coverage and credited time reached; under attention checks, also nothing owed: no check
    awaiting its answer and no time of this lesson still waiting for one."""
    duration = session.duration_seconds
    if under_checks(session) and (session.check_issued_at is not None or (progress.pending_seconds or 0) > 0):
        return False
    if session.kind == LessonKind.VIDEO:
        fastest = max(rates(session) or [1.0])
        return (progress.watched_seconds >= session.coverage_threshold * duration - 1e-6
                and progress.credited_seconds + COMPLETION_EPSILON_SECONDS >= duration / fastest)
    return progress.credited_seconds + COMPLETION_EPSILON_SECONDS >= duration


def lesson_completed(progress: LessonProgress) -> None:
    """After a lesson's completed_at is written: the signal (course completion reacts to it)."""
    signals.lesson_completed.send(progress)


