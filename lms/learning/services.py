"""Enrolment, play leases, heartbeats, lesson and course completion, the final exam.

Services take the acting user (or their id) as an argument, never read the request, and flush;
the route, CLI command or job commits.
"""

import math
import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.util import identity_key

from ..accounts.sessions import live_session_clause
from ..assessment.models import QuizQuestion
from ..catalog.models import Chapter, Course, CourseStatus, Lesson, LessonKind
from ..core import signals
from ..core.clock import utcnow_naive
from ..core.errors import Conflict, InvalidInput, NotAllowed, NotFound, TooMany
from ..credits import services as credits
from ..extensions import db
from . import crediting
from .models import NOT_COUNTED_LABELS, Enrollment, LessonProgress, PlaySession, QuizAttempt

_random = random.SystemRandom()
ATTENTION_GRACE_SECONDS = 3  # network delay allowed on top of the answer window
COMPLETION_EPSILON_SECONDS = 0.5


def heartbeat_seconds() -> int:
    return int(current_app.config.get("LMS_HEARTBEAT_SECONDS", 12))


def reading_min_seconds() -> int:
    return int(current_app.config.get("LMS_READING_MIN_SECONDS", 60))


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
        raise NotFound("该课程不存在或已下线，无法报名。")
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
        raise NotAllowed("您还没有报名这门课程。请先在课程页点击“报名学习”（免费）。")
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
        return [(reason, NOT_COUNTED_LABELS.get(reason, reason), seconds)
                for reason, seconds in sorted(tally.items(), key=lambda kv: -kv[1]) if seconds >= 0.5]

    @property
    def state_label(self) -> str:
        if self.completed:
            return "已完成"
        return "学习中" if self.progress else "未开始"


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

    def state_of(self, lesson_id: int) -> LessonState | None:
        return next((s for s in self.lessons if s.lesson.id == lesson_id), None)

    def next_lesson(self, lesson_id: int) -> Lesson | None:
        ids = [s.lesson.id for s in self.lessons]
        i = ids.index(lesson_id) if lesson_id in ids else -1
        return self.lessons[i + 1].lesson if 0 <= i < len(ids) - 1 else None


def _lesson_duration(lesson: Lesson) -> float:
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
        duration = _lesson_duration(lesson)
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
    return get_own(LessonProgress, progress_id, actor, missing="没有找到这条学习记录。", others="只能查看自己的学习记录。")


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
        "not_counted": [{"reason": r, "label": NOT_COUNTED_LABELS.get(r, r), "seconds": round(s, 1)}
                        for r, s in sorted((progress.not_counted or {}).items(), key=lambda kv: -kv[1])
                        if s >= 0.5],
    }


# ---------------------------------------------------------------- play leases

def _lock_for_write(model, key) -> None:
    """Take the row's write lock before reading it.

    PostgreSQL: the following SELECT … FOR UPDATE locks the row. SQLite ignores FOR UPDATE, so a
    no-op UPDATE takes the database write lock first; concurrent writers then wait (busy timeout)
    and read fresh rows, instead of failing on a stale snapshot.
    """
    if db.session.get_bind().dialect.name == "sqlite":
        table = model.__table__
        pk = list(table.primary_key.columns)[0]
        db.session.execute(update(table).where(pk == key).values({pk.name: pk}))


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
        raise NotFound("该课时不属于您报名的课程版本。")
    return lesson


def session_starts_per_minute() -> int:
    return int(current_app.config.get("LMS_SESSION_STARTS_PER_MINUTE", 12))


def start_session(user_id: int, lesson_id: int) -> tuple[PlaySession, LessonProgress]:
    """Take the learner's play lease for a lesson: any other active session is superseded.

    The per-learner state of the crediting rules (the wall-clock allowance and the attention-check
    schedule) is taken over from the superseded session, so a new session creates no allowance and
    postpones no check. Starts are limited per learner (LMS_SESSION_STARTS_PER_MINUTE).
    """
    from ..accounts.models import User

    # Serialize lease changes per learner: lock the user row (the write lock on SQLite) first.
    _lock_for_write(User, user_id)
    actor = db.session.scalar(select(User).where(User.id == user_id).with_for_update())
    lesson = db.session.get(Lesson, lesson_id)
    if lesson is None or lesson.kind == LessonKind.QUIZ:
        raise NotFound("没有找到可以学习的课时。")
    enrollment = db.session.scalar(select(Enrollment).where(
        Enrollment.user_id == user_id, Enrollment.course_id == lesson.chapter.course_id))
    if enrollment is None:
        raise NotAllowed("您还没有报名这门课程（或报名的是其他版本），不能计时学习。")
    duration = _lesson_duration(lesson)
    if lesson.kind == LessonKind.VIDEO and (not lesson.media_asset or not lesson.media_asset.is_playable):
        raise Conflict("该课时的视频尚未就绪，请稍后再试。")
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
    if carried["check_issued_at"] is not None and _check_overdue(session, now):
        session.attention_missed = _miss_check(session, None)
    _maybe_complete_lesson(progress, session, now)
    signals.play_session_started.send(session)
    return session, progress


def _limit_starts(user_id: int, now: datetime) -> None:
    limit = session_starts_per_minute()
    recent = list(db.session.scalars(select(PlaySession.started_at).where(
        PlaySession.user_id == user_id, PlaySession.started_at > now - timedelta(seconds=60))
        .order_by(PlaySession.started_at.desc()).limit(limit)))
    if len(recent) >= limit:
        wait = max(1, int(60 - (now - recent[-1]).total_seconds()) + 1)
        raise TooMany(f"开始播放过于频繁：一分钟内最多开始 {limit} 次。请等待 {wait} 秒后再点击播放，"
                      "已记录的学习时间不受影响。")


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
    return round(_random.uniform(low, max(low, high)), 1)


# ---------------------------------------------------------------- heartbeats

@dataclass(frozen=True)
class Beat:
    """One heartbeat. ``segments`` were played since the previous beat; ``resend`` carries, as
    ``(seq, segments)`` pairs, the segments of earlier beats the player has not seen acknowledged
    (their request or their response was lost). The server takes a resent batch only when its seq
    is above the last one it processed, so a lost request costs nothing and a lost response credits
    nothing twice. ``event`` (tick, pause, ended, unload, hidden) is informational: it never credits."""

    session_id: str
    seq: int
    position: float
    segments: list
    rate: float = 1.0
    visible: bool = True
    event: str = "tick"
    resend: tuple = ()

    def new_segments(self, processed_seq: int) -> list:
        """The segments not yet processed, oldest first."""
        batches = sorted(((seq, segs) for seq, segs in self.resend if processed_seq < seq < self.seq),
                         key=lambda batch: batch[0])  # by seq alone: the segments are the client's
        return [seg for _, segs in batches for seg in segs] + list(self.segments)


@dataclass
class BeatResult:
    status: str  # ok, duplicate, superseded
    body: dict


SUPERSEDED_MESSAGE = "已在其他页面或设备播放，本页面已停止计时。"
MAX_RESEND_BATCHES = 64
MAX_SEQ = 2**31 - 1  # the column is a 32-bit integer on PostgreSQL


def parse_beat(data) -> Beat:
    if not isinstance(data, dict):
        raise InvalidInput("心跳数据格式不正确。")
    try:
        resend = tuple((int(item["seq"]), list(item.get("segments") or []))
                       for item in list(data.get("resend") or [])[:MAX_RESEND_BATCHES + 1])
        beat = Beat(session_id=str(data["session_id"])[:32], seq=int(data["seq"]),
                    position=float(data.get("position") or 0), segments=list(data.get("segments") or []),
                    rate=float(data.get("rate") or 1), visible=bool(data.get("visible", True)),
                    event=str(data.get("event") or "tick")[:16], resend=resend)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        raise InvalidInput("心跳数据格式不正确。") from None
    total = len(beat.segments) + sum(len(segs) for _, segs in beat.resend)
    if (not 1 <= beat.seq <= MAX_SEQ or any(not 1 <= seq <= MAX_SEQ for seq, _ in beat.resend)
            or not (math.isfinite(beat.position) and math.isfinite(beat.rate))
            or len(beat.segments) > crediting.MAX_SEGMENTS or len(beat.resend) > MAX_RESEND_BATCHES
            or total > crediting.MAX_TOTAL_SEGMENTS):
        raise InvalidInput("心跳数据格式不正确。")
    return beat


def _load_own_session(user_id: int, session_id: str) -> tuple[PlaySession, LessonProgress]:
    """The play session and its lesson progress, both locked, in one query."""
    from ..accounts.models import User

    _lock_for_write(PlaySession, session_id)
    row = db.session.execute(
        select(PlaySession, LessonProgress, User.is_active_account)
        .join(LessonProgress, LessonProgress.id == PlaySession.progress_id)
        .join(User, User.id == PlaySession.user_id)
        .where(PlaySession.id == session_id)
        .with_for_update(of=(PlaySession.__table__, LessonProgress.__table__))).first()
    if row is None:
        raise NotFound("播放会话不存在，请刷新页面。")
    session, progress, active = row
    if session.user_id != user_id or not active:
        raise NotAllowed("这不是您的播放会话。")
    return session, progress


class _Row:
    """One row read with Core for the heartbeat, its columns as attributes named like the ORM model's
    (so the crediting helpers below work on it as on the model); ``changes()`` gives the columns since
    assigned a different value, so that only those are written."""

    def __init__(self, values: dict):
        self.__dict__.update(values)
        self.__dict__["_loaded"] = values

    def changes(self) -> dict:
        loaded = self.__dict__["_loaded"]
        return {k: v for k, v in self.__dict__.items() if k != "_loaded" and loaded[k] != v}


class _BeatStatements:
    """The heartbeat's statements, built once per process (SQLAlchemy caches their compiled SQL)."""

    def __init__(self):
        from ..accounts.models import User

        ps, lp, user = PlaySession.__table__, LessonProgress.__table__, User.__table__
        self.session_columns = [c.key for c in ps.c]
        self.progress_columns = [c.key for c in lp.c]
        # PostgreSQL locks both rows (FOR UPDATE OF); SQLite renders no FOR UPDATE: lock_sqlite first.
        # The login session named by the cookie must be live (not logged out, not expired).
        live = live_session_clause(bindparam("login_sid"), user.c.id, bindparam("now"))
        self.load = (select(*ps.c, *lp.c, user.c.is_active_account, user.c.login_epoch, live)
                     .select_from(ps.join(lp, lp.c.id == ps.c.progress_id).join(user, user.c.id == ps.c.user_id))
                     .where(ps.c.id == bindparam("sid"))
                     .with_for_update(of=(ps, lp)))
        self.lock_sqlite = update(ps).where(ps.c.id == bindparam("sid")).values(id=ps.c.id)
        # No values(): the SET clause is the columns present in the parameters (only those that changed).
        self.update_session = update(ps).where(ps.c.id == bindparam("pk_"))
        self.update_progress = update(lp).where(lp.c.id == bindparam("pk_"))


_beat_statements: _BeatStatements | None = None


def _statements() -> _BeatStatements:
    global _beat_statements
    if _beat_statements is None:
        _beat_statements = _BeatStatements()
    return _beat_statements


def _load_beat_rows(conn, user_id: int, session_id: str, login) -> tuple[_Row, _Row]:
    """The play session and its lesson progress, both locked, in one query (plus the SQLite write
    lock first): the same rows, locks and checks as _load_own_session, read without the ORM; with
    ``login`` (the cookie's LoginId, not checked against the database yet), also the login checks
    of the user loader."""
    st = _statements()
    if conn.dialect.name == "sqlite":
        conn.execute(st.lock_sqlite, {"sid": session_id})
    row = conn.execute(st.load, {"sid": session_id, "login_sid": login.session_id if login else 0,
                                 "now": utcnow_naive()}).first()
    if row is None:
        raise NotFound("播放会话不存在，请刷新页面。")
    n = len(st.session_columns)
    session = _Row(dict(zip(st.session_columns, row[:n], strict=True)))
    progress = _Row(dict(zip(st.progress_columns, row[n:-3], strict=True)))
    active, epoch, live = row[-3], row[-2], row[-1]
    if session.user_id != user_id or not active:
        raise NotAllowed("这不是您的播放会话。")
    if login is not None and (epoch != login.login_epoch or not live):
        raise NotAllowed("登录已失效（已退出登录或密码已修改），请重新登录后继续学习。")
    return session, progress


def _write_beat_rows(conn, session: _Row, progress: _Row) -> None:
    """UPDATE the columns that changed (JSON columns only when their value changed), then make any
    ORM copies of these rows in the session's identity map reload."""
    st = _statements()
    for row, statement in ((session, st.update_session), (progress, st.update_progress)):
        changes = row.changes()
        if changes:
            conn.execute(statement, {"pk_": row.id, **changes})
    if db.session.identity_map:
        for model, row in ((PlaySession, session), (LessonProgress, progress)):
            held = db.session.identity_map.get(identity_key(model, row.id))
            if held is not None:
                db.session.expire(held)


def record_heartbeat(user_id: int, beat: Beat, *, login=None) -> BeatResult:
    """One heartbeat, in one short transaction: two locked rows read in one query, at most two
    UPDATEs of the columns that changed. The hot path: Core statements, no ORM unit of work.

    Idempotent by (session, seq): a retried or late beat changes nothing. ``login`` (the LoginId of
    a session cookie that was not checked against the database) must name the account's current
    login epoch and a live login session.
    """
    db.session.flush()  # pending ORM changes first, as the ORM query's autoflush did
    conn = db.session.connection()
    session, progress = _load_beat_rows(conn, user_id, beat.session_id, login)
    result, completed = _apply_beat(session, progress, beat)
    _write_beat_rows(conn, session, progress)
    if completed:
        _lesson_completed(db.session.get(LessonProgress, progress.id))
    return result


def _apply_beat(session, progress, beat: Beat) -> tuple[BeatResult, bool]:
    """The crediting rules of one beat, applied to the session and progress rows in memory.
    Returns the result and whether the lesson has just been completed.

    The budget is the learner's (see crediting): this session holds the learner's allowance and
    attention schedule, taken over from the session it superseded, and a superseded session credits
    nothing. Wall-clock time charged to a lesson under attention checks waits in the lesson's
    ``pending_seconds`` until a check is passed; a check is asked when the schedule says so and when
    the lesson's coverage is reached with time still waiting, so no lesson completes without one.
    What the client calls its beat decides nothing."""
    if beat.seq <= session.seq:
        return BeatResult("duplicate", _beat_body(session, progress, {})), False
    now = utcnow_naive()
    body_extra: dict = {}
    segments = beat.new_segments(session.seq)
    if session.superseded_at is not None:
        outcome = crediting.credit_video_beat(
            intervals=[], furthest=0, slack=0, duration=session.duration_seconds, elapsed=0,
            segments=segments, rate=beat.rate, allowed_rates=[1.0], visible=True, blocked="superseded")
        if outcome.not_counted:
            progress.not_counted = crediting.add_tallies(progress.not_counted, outcome.not_counted)
        session.seq = beat.seq
        return BeatResult("superseded", {"status": "superseded", "message": SUPERSEDED_MESSAGE,
                                         "acked_seq": beat.seq, "not_counted": outcome.not_counted}), False

    elapsed = max(0.0, (now - session.last_beat_at).total_seconds())
    checked = _under_checks(session)
    blocked = None
    if session.check_issued_at is not None:  # on a reading page too: a check carried from a video
        if _check_overdue(session, now):
            body_extra["attention_missed"] = _miss_check(session, progress)
        elif checked:
            blocked = "attention"

    accepted: list = []
    if session.kind == LessonKind.VIDEO:
        outcome = crediting.credit_video_beat(
            intervals=progress.watched_intervals or [], furthest=progress.furthest_point,
            slack=session.slack_seconds, duration=session.duration_seconds, elapsed=elapsed,
            segments=segments, rate=beat.rate, allowed_rates=_rates(session), visible=beat.visible,
            blocked=blocked)
        credited, not_counted, accepted = outcome.credited, outcome.not_counted, outcome.accepted
        session.slack_seconds = outcome.slack
        if outcome.accepted:
            progress.watched_intervals = outcome.intervals
            progress.watched_seconds = crediting.covered_seconds(outcome.intervals)
            progress.furthest_point = outcome.furthest
    else:
        cap = heartbeat_seconds() * 2 + crediting.TOLERANCE_SECONDS
        credited, session.slack_seconds, not_counted = crediting.credit_reading_beat(
            slack=session.slack_seconds, elapsed=elapsed, visible=beat.visible, cap=cap)
    if not_counted:
        progress.not_counted = crediting.add_tallies(progress.not_counted, not_counted)

    if not checked:
        progress.credited_seconds = round(progress.credited_seconds + credited, 3)
    else:
        progress.pending_seconds = round(progress.pending_seconds + credited, 3)
        session.since_check_seconds = round(session.since_check_seconds + credited, 3)
        if session.check_issued_at is None and (
                session.since_check_seconds >= session.check_after_seconds
                or (progress.completed_at is None and progress.pending_seconds > 0
                    and _done_once_confirmed(progress, session))):
            # Due by the schedule, or the lesson would be complete with the time waiting: that time is
            # credited only once the learner confirms (so no lesson completes without a check passed).
            session.check_issued_at = now

    session.seq = beat.seq
    session.last_beat_at = now
    progress.resume_position = round(min(max(0.0, beat.position), progress.furthest_point,
                                         session.duration_seconds), 3)
    progress.last_beat_at = now
    progress.last_beat_seq = beat.seq
    completed = progress.completed_at is None and _lesson_done(progress, session)
    if completed:
        progress.completed_at = now
    body = _beat_body(session, progress, not_counted)
    body["accepted"] = [[round(a, 3), round(b, 3)] for a, b in accepted]
    body.update(body_extra)
    return BeatResult("ok", body), completed


def _under_checks(session) -> bool:
    """Whether this session's credit waits for attention checks (video, with checks in the rule set)."""
    return session.kind == LessonKind.VIDEO and session.check_after_seconds is not None


def _coverage_reached(progress, session) -> bool:
    return progress.watched_seconds >= session.coverage_threshold * session.duration_seconds - 1e-6


def _done_once_confirmed(progress, session) -> bool:
    """The lesson's coverage is reached and, with the time now waiting credited, so is its time: the
    moment to ask for the lesson's closing check (once, rather than at every beat until then)."""
    required = session.duration_seconds / max(_rates(session) or [1.0])
    return (_coverage_reached(progress, session)
            and progress.credited_seconds + progress.pending_seconds + COMPLETION_EPSILON_SECONDS >= required)


def _rates(session: PlaySession) -> list[float]:
    return [float(r) for r in session.allowed_rates.split(",") if r.strip()]


def _check_overdue(session: PlaySession, now: datetime) -> bool:
    deadline = session.check_issued_at + timedelta(seconds=session.check_window_seconds + ATTENTION_GRACE_SECONDS)
    return now > deadline


def _next_schedule(session) -> None:
    session.check_issued_at = None
    session.since_check_seconds = 0.0
    session.check_after_seconds = _next_check(session.check_min_seconds, session.check_max_seconds)


def _miss_check(session, progress) -> float:
    """An unanswered check: the time charged since the previous check that still waits, in every
    lesson of the learner, is not credited. ``progress`` is the session's own row when the caller holds
    it outside the ORM (the heartbeat); the other lessons' rows are changed through the ORM."""
    lost = 0.0
    own_id = progress.id if progress is not None else None
    if progress is not None and progress.pending_seconds > 0:
        lost += progress.pending_seconds
        progress.not_counted = crediting.add_tallies(progress.not_counted, {"attention": progress.pending_seconds})
        progress.pending_seconds = 0.0
    for other in _pending_rows(session.user_id, exclude=own_id):
        lost += other.pending_seconds
        other.not_counted = crediting.add_tallies(other.not_counted, {"attention": other.pending_seconds})
        other.pending_seconds = 0.0
    session.checks_missed += 1
    _next_schedule(session)
    return round(lost, 1)


def _pending_rows(user_id: int, *, exclude: int | None = None) -> list[LessonProgress]:
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
    session, progress = _load_own_session(user_id, session_id)
    now = utcnow_naive()
    if session.superseded_at is not None:
        return {"status": "superseded", "message": SUPERSEDED_MESSAGE}
    extra = {}
    if session.check_issued_at is None:
        extra["attention"] = "none"
    elif _check_overdue(session, now):
        extra["attention_missed"] = _miss_check(session, None)
    else:
        session.checks_passed += 1
        _next_schedule(session)
        session.last_beat_at = now  # the pause while the prompt was shown is not play time
        extra["attention"] = "passed"
        for row in _pending_rows(user_id):
            _flush_pending(row)
            db.session.flush()
            _complete_if_done(row, session, now)
    body = _beat_body(session, progress, {})
    body.update(extra)
    return body


def _complete_if_done(progress: LessonProgress, session: PlaySession, now: datetime) -> None:
    """Completion of a lesson whose waiting time was just credited: its own session's figures when it is
    the session's lesson, else the lesson's own duration and the learner's rule set."""
    if progress.id == session.progress_id:
        _maybe_complete_lesson(progress, session, now)
        return
    from ..accounts.models import User

    lesson = db.session.get(Lesson, progress.lesson_id)
    rule = credits.rule_set_for(db.session.get(User, session.user_id))
    probe = PlaySession(kind=lesson.kind, duration_seconds=_lesson_duration(lesson), allowed_rates=rule.allowed_rates,
                        coverage_threshold=float(rule.coverage_threshold))
    _maybe_complete_lesson(progress, probe, now)


def start_body(session: PlaySession, progress: LessonProgress) -> dict:
    """What the player gets when it takes the lease: the lesson's progress, the session, and a check
    the learner still owes (carried from the session this one superseded) or just missed."""
    body = _beat_body(session, progress, {})
    body.update({"session_id": session.id, "seq": 0, "acked_seq": 0, "heartbeat_seconds": heartbeat_seconds(),
                 "allowed_rates": _rates(session)})
    if session.attention_missed is not None:
        body["attention_missed"] = session.attention_missed
    return body


def _beat_body(session: PlaySession, progress: LessonProgress, not_counted: dict) -> dict:
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

def _maybe_complete_lesson(progress: LessonProgress, session: PlaySession, now: datetime) -> None:
    if progress.completed_at is not None or not _lesson_done(progress, session):
        return
    progress.completed_at = now
    db.session.flush()
    _lesson_completed(progress)


def _lesson_done(progress, session) -> bool:
    """Coverage and credited time reached; under attention checks, also nothing owed: no check
    awaiting its answer and no time of this lesson still waiting for one."""
    duration = session.duration_seconds
    if _under_checks(session) and (session.check_issued_at is not None or (progress.pending_seconds or 0) > 0):
        return False
    if session.kind == LessonKind.VIDEO:
        fastest = max(_rates(session) or [1.0])
        return (progress.watched_seconds >= session.coverage_threshold * duration - 1e-6
                and progress.credited_seconds + COMPLETION_EPSILON_SECONDS >= duration / fastest)
    return progress.credited_seconds + COMPLETION_EPSILON_SECONDS >= duration


def _lesson_completed(progress: LessonProgress) -> None:
    """After a lesson's completed_at is written: the signal, then the course if it is now complete."""
    signals.lesson_completed.send(progress)
    enrollment = db.session.get(Enrollment, progress.enrollment_id)
    complete_course_if_done(enrollment)


def _has_questions(course_id: int) -> bool:
    return db.session.scalar(select(QuizQuestion.id).where(QuizQuestion.course_id == course_id).limit(1)) is not None


def complete_course_if_done(enrollment: Enrollment):
    """All lessons complete and, when the course has questions, the exam passed: write the credit
    record and emit ``course_completed`` — once, however often this is called."""
    _lock_for_write(Enrollment, enrollment.id)
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
