"""The heartbeat: the player reports what it played; the server credits it by the rules.

The hot path of the platform (one request per learner every few seconds): two rows read and locked
in one Core query, the crediting rules (``crediting``) applied in memory in named steps, and at most
two UPDATEs of the columns that changed. No ORM unit of work.
"""

import math
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm.util import identity_key

from ..accounts.models import User
from ..accounts.sessions import live_session_clause
from ..catalog.models import LessonKind
from ..core.clock import utcnow_naive
from ..core.database import WRITE_LOCKED
from ..core.errors import InvalidInput, NotAllowed, NotFound
from ..extensions import db
from . import crediting
from .models import LessonProgress, PlaySession
from .play import (
    SUPERSEDED_MESSAGE,
    beat_body,
    check_overdue,
    done_once_confirmed,
    lesson_completed,
    lesson_done,
    miss_check,
    rates,
    under_checks,
)
from .services import course_summary, heartbeat_seconds


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


class BeatResult:
    """A beat's outcome. ``body`` (the answer to the player) may be given as a function that builds
    it when first read: after the commit, so that the write lock (SQLite) is not held meanwhile."""

    def __init__(self, status: str, body):
        self.status = status  # ok, duplicate, superseded
        self.locale: str | None = None  # the account's chosen language, for the answer's words
        self._build = body if callable(body) else None
        self._body: dict | None = None if callable(body) else body

    @property
    def body(self) -> dict:
        if self._body is None:
            self._body = self._build()
        return self._body


MAX_RESEND_BATCHES = 64
MAX_SEQ = 2**31 - 1  # the column is a 32-bit integer on PostgreSQL


def parse_beat(data) -> Beat:
    if not isinstance(data, dict):
        raise InvalidInput(_("心跳数据格式不正确。"), reason="malformed")
    try:
        resend = tuple((int(item["seq"]), list(item.get("segments") or []))
                       for item in list(data.get("resend") or [])[:MAX_RESEND_BATCHES + 1])
        beat = Beat(session_id=str(data["session_id"])[:32], seq=int(data["seq"]),
                    position=float(data.get("position") or 0), segments=list(data.get("segments") or []),
                    rate=float(data.get("rate") or 1), visible=bool(data.get("visible", True)),
                    event=str(data.get("event") or "tick")[:16], resend=resend)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        raise InvalidInput(_("心跳数据格式不正确。"), reason="malformed") from None
    total = len(beat.segments) + sum(len(segs) for _, segs in beat.resend)
    if (not 1 <= beat.seq <= MAX_SEQ or any(not 1 <= seq <= MAX_SEQ for seq, _ in beat.resend)
            or not (math.isfinite(beat.position) and math.isfinite(beat.rate))
            or len(beat.segments) > crediting.MAX_SEGMENTS or len(beat.resend) > MAX_RESEND_BATCHES
            or total > crediting.MAX_TOTAL_SEGMENTS):
        raise InvalidInput(_("心跳数据格式不正确。"), reason="malformed")
    return beat



class _Row:
    """One row read with Core for the heartbeat, its columns as attributes named like the ORM model's
    (so the crediting helpers work on it as on the model); ``changes()`` gives the columns since
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
        ps, lp, user = PlaySession.__table__, LessonProgress.__table__, User.__table__
        self.session_columns = [c.key for c in ps.c]
        self.progress_columns = [c.key for c in lp.c]
        # PostgreSQL locks both rows (FOR UPDATE OF). SQLite renders no FOR UPDATE: a request's writing
        # transaction holds the write lock from BEGIN IMMEDIATE on; any other transaction takes it
        # with lock_sqlite first.
        # The login session named by the cookie must be live (not logged out, not expired).
        live = live_session_clause(bindparam("login_sid"), user.c.id, bindparam("now"))
        self.load = (select(*ps.c, *lp.c, user.c.locale, user.c.is_active_account, user.c.login_epoch, live)
                     .select_from(ps.join(lp, lp.c.id == ps.c.progress_id).join(user, user.c.id == ps.c.user_id))
                     .where(ps.c.id == bindparam("sid"))
                     .with_for_update(of=(ps, lp)))
        self.lock_sqlite = update(ps).where(ps.c.id == bindparam("sid")).values(id=ps.c.id)
        # No values(): the SET clause is the columns present in the parameters (only those that changed).
        self.update_session = update(ps).where(ps.c.id == bindparam("pk_"))
        self.update_progress = update(lp).where(lp.c.id == bindparam("pk_"))
        self._both: dict = {}

    def update_both(self, session_keys, progress_keys):
        """PostgreSQL: both rows' changes in one statement (the session's UPDATE in a WITH clause,
        which PostgreSQL runs exactly once), one round trip instead of two; one statement per set
        of changed columns."""
        key = (tuple(session_keys), tuple(progress_keys))
        statement = self._both.get(key)
        if statement is None:
            ps, lp = PlaySession.__table__, LessonProgress.__table__
            first = (update(ps).where(ps.c.id == bindparam("s_pk_"))
                     .values({ps.c[k]: bindparam(f"s_{k}", type_=ps.c[k].type) for k in key[0]})
                     .returning(ps.c.id).cte("beat_session"))
            statement = (update(lp).where(lp.c.id == bindparam("p_pk_"))
                         .values({lp.c[k]: bindparam(f"p_{k}", type_=lp.c[k].type) for k in key[1]})
                         .add_cte(first))
            self._both[key] = statement
        return statement


_beat_statements: _BeatStatements | None = None


def _statements() -> _BeatStatements:
    global _beat_statements
    if _beat_statements is None:
        _beat_statements = _BeatStatements()
    return _beat_statements


def _load_beat_rows(conn, user_id: int, session_id: str, login) -> tuple[_Row, _Row, str | None]:
    """The play session and its lesson progress, both locked, and the account's chosen language, in
    one query: the same rows, locks and checks as ``play.load_own_session``, read without the ORM;
    with ``login`` (the cookie's LoginId, not checked against the database yet), also the login
    checks of the user loader."""
    st = _statements()
    if conn.dialect.name == "sqlite" and not conn.info.get(WRITE_LOCKED):
        conn.execute(st.lock_sqlite, {"sid": session_id})
    row = conn.execute(st.load, {"sid": session_id, "login_sid": login.session_id if login else 0,
                                 "now": utcnow_naive()}).first()
    if row is None:
        raise NotFound(_("播放会话不存在，请刷新页面。"), reason="unknown_session")
    n = len(st.session_columns)
    session = _Row(dict(zip(st.session_columns, row[:n], strict=True)))
    progress = _Row(dict(zip(st.progress_columns, row[n:-4], strict=True)))
    locale, active, epoch, live = row[-4], row[-3], row[-2], row[-1]
    if session.user_id != user_id or not active:
        raise NotAllowed(_("这不是您的播放会话。"), reason="not_owner")
    if login is not None and (epoch != login.login_epoch or not live):
        raise NotAllowed(_("登录已失效（已退出登录或密码已修改），请重新登录后继续学习。"), reason="login_ended")
    return session, progress, locale


def _write_beat_rows(conn, session: _Row, progress: _Row) -> None:
    """UPDATE the columns that changed (JSON columns only when their value changed), then make any
    ORM copies of these rows in the session's identity map reload."""
    st = _statements()
    session_changes, progress_changes = session.changes(), progress.changes()
    if session_changes and progress_changes and conn.dialect.name == "postgresql":
        params = {"s_pk_": session.id, "p_pk_": progress.id}
        params.update({f"s_{k}": v for k, v in session_changes.items()})
        params.update({f"p_{k}": v for k, v in progress_changes.items()})
        conn.execute(st.update_both(session_changes, progress_changes), params)
    else:
        for row, changes, statement in ((session, session_changes, st.update_session),
                                        (progress, progress_changes, st.update_progress)):
            if changes:
                conn.execute(statement, {"pk_": row.id, **changes})
    if db.session.identity_map:
        for model, row in ((PlaySession, session), (LessonProgress, progress)):
            held = db.session.identity_map.get(identity_key(model, row.id))
            if held is not None:
                db.session.expire(held)


def record_heartbeat(user_id: int, beat: Beat, *, login=None) -> BeatResult:
    """One heartbeat, in one short transaction: two locked rows read in one query, one or two
    UPDATEs of the columns that changed. The hot path: Core statements, no ORM unit of work.

    Idempotent by (session, seq): a retried or late beat changes nothing. ``login`` (the LoginId of
    a session cookie that was not checked against the database) must name the account's current
    login epoch and a live login session.
    """
    db.session.flush()  # pending ORM changes first, as the ORM query's autoflush did
    conn = db.session.connection()
    session, progress, result_locale = _load_beat_rows(conn, user_id, beat.session_id, login)
    result, completed = _apply_beat(session, progress, beat)
    result.locale = result_locale
    _write_beat_rows(conn, session, progress)
    if completed:
        lesson_completed(db.session.get(LessonProgress, progress.id))
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
        return BeatResult("duplicate", lambda: beat_body(session, progress, {})), False
    segments = beat.new_segments(session.seq)
    if session.superseded_at is not None:
        return _superseded(session, progress, beat, segments), False
    now = utcnow_naive()
    elapsed = max(0.0, (now - session.last_beat_at).total_seconds())
    blocked, extra = _attention_due(session, progress, now)
    credited, not_counted, accepted = _credit(session, progress, beat, segments, elapsed, blocked)
    if not_counted:
        progress.not_counted = crediting.add_tallies(progress.not_counted, not_counted)
    _charge(session, progress, credited, now)
    completed = _advance(session, progress, beat, now)

    def body() -> dict:
        answer = beat_body(session, progress, not_counted)
        answer["accepted"] = [[round(a, 3), round(b, 3)] for a, b in accepted]
        answer.update(extra)
        if completed:  # the outline and the exam's state change with it
            answer["course"] = course_summary(progress.enrollment_id)
        return answer

    return BeatResult("ok", body), completed


def _superseded(session, progress, beat: Beat, segments: list) -> BeatResult:
    """A beat of a superseded session: nothing is credited; what it reported is tallied as such."""
    outcome = crediting.credit_video_beat(
        intervals=[], furthest=0, slack=0, duration=session.duration_seconds, elapsed=0,
        segments=segments, rate=beat.rate, allowed_rates=[1.0], visible=True, blocked="superseded")
    if outcome.not_counted:
        progress.not_counted = crediting.add_tallies(progress.not_counted, outcome.not_counted)
    session.seq = beat.seq
    return BeatResult("superseded", lambda: {"status": "superseded", "message": _(SUPERSEDED_MESSAGE),
                                             "acked_seq": beat.seq, "not_counted": outcome.not_counted})


def _attention_due(session, progress, now) -> tuple[str | None, dict]:
    """A check awaiting its answer: missed when overdue (the waiting time is forfeited, reported in
    the answer), else it blocks crediting under checks. On a reading page too: a check carried from
    a video still counts."""
    if session.check_issued_at is None:
        return None, {}
    if check_overdue(session, now):
        return None, {"attention_missed": miss_check(session, progress)}
    return ("attention" if under_checks(session) else None), {}


def _credit(session, progress, beat: Beat, segments: list, elapsed: float, blocked: str | None):
    """What the beat earns by the rules: (wall-clock seconds credited, seconds not counted by
    reason, media intervals accepted). Updates the session's allowance and the lesson's coverage."""
    if session.kind != LessonKind.VIDEO:
        cap = heartbeat_seconds() * 2 + crediting.TOLERANCE_SECONDS
        credited, session.slack_seconds, not_counted = crediting.credit_reading_beat(
            slack=session.slack_seconds, elapsed=elapsed, visible=beat.visible, cap=cap)
        return credited, not_counted, []
    outcome = crediting.credit_video_beat(
        intervals=progress.watched_intervals or [], furthest=progress.furthest_point,
        slack=session.slack_seconds, duration=session.duration_seconds, elapsed=elapsed,
        segments=segments, rate=beat.rate, allowed_rates=rates(session), visible=beat.visible,
        blocked=blocked)
    session.slack_seconds = outcome.slack
    if outcome.accepted:
        progress.watched_intervals = outcome.intervals
        progress.watched_seconds = crediting.covered_seconds(outcome.intervals)
        progress.furthest_point = outcome.furthest
    return outcome.credited, outcome.not_counted, outcome.accepted


def _charge(session, progress, credited: float, now) -> None:
    """Credit the time, or under attention checks let it wait for the next check passed, and ask
    for that check when the schedule says so or when the lesson would be complete with the time
    waiting (so no lesson completes without a check passed)."""
    if not under_checks(session):
        progress.credited_seconds = round(progress.credited_seconds + credited, 3)
        return
    progress.pending_seconds = round(progress.pending_seconds + credited, 3)
    session.since_check_seconds = round(session.since_check_seconds + credited, 3)
    if session.check_issued_at is None and (
            session.since_check_seconds >= session.check_after_seconds
            or (progress.completed_at is None and progress.pending_seconds > 0
                and done_once_confirmed(progress, session))):
        session.check_issued_at = now


def _advance(session, progress, beat: Beat, now) -> bool:
    """The beat is processed: sequence, clocks and resume position move on. Returns whether the
    lesson has just been completed."""
    session.seq = beat.seq
    session.last_beat_at = now
    progress.resume_position = round(min(max(0.0, beat.position), progress.furthest_point,
                                         session.duration_seconds), 3)
    progress.last_beat_at = now
    progress.last_beat_seq = beat.seq
    completed = progress.completed_at is None and lesson_done(progress, session)
    if completed:
        progress.completed_at = now
    return completed
