"""JSON API of the player: play leases, heartbeats, attention checks, progress.

CSRF: the token comes in the X-CSRFToken header or, for navigator.sendBeacon (which cannot set
headers), as ``csrf_token`` in the JSON body. Bodies are parsed whatever their content type,
because sendBeacon posts text/plain.
"""

from flask import Blueprint, current_app, jsonify, request, session
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import ValidationError, validate_csrf
from prometheus_client import Counter

from ..accounts.sessions import LoginId, parse_login_id
from ..core.errors import DomainError, InvalidInput, NotAllowed, NotFound
from ..core.i18n import use_account_locale
from ..extensions import csrf, db
from . import heartbeat as beats
from . import play, services

bp = Blueprint("learning_api", __name__, url_prefix="/api/v1/learning")
csrf.exempt(bp)

# Heartbeats counted per process (lms/core/metrics.py adds up the workers). A refused beat credits
# nothing: its reason is the error's (malformed, signed_out, stale_page, unknown_session, not_owner,
# login_ended) or the beat's status (duplicate: a resent beat already processed; superseded: a
# session replaced by a newer one). The children are made once: the hot path only adds one.
BEATS_ACCEPTED = Counter("lms_heartbeats_accepted_total", "Heartbeats processed by the crediting rules")
_refused = Counter("lms_heartbeats_refused_total", "Heartbeats that credited nothing, by reason", ["reason"])
REFUSAL_REASONS = ("malformed", "signed_out", "stale_page", "unknown_session", "not_owner", "login_ended",
                   "duplicate", "superseded", "other")
BEATS_REFUSED = {reason: _refused.labels(reason) for reason in REFUSAL_REASONS}


def _json_body() -> dict:
    try:
        data = request.get_json(force=True, silent=True)
    except RecursionError:  # nested beyond the parser's depth: not a heartbeat
        data = None
    if not isinstance(data, dict):
        raise InvalidInput(_("请求内容不是有效的 JSON。"), reason="malformed")
    return data


def _learner_id(data: dict) -> int:
    """The signed-in learner's id after the CSRF check; then ends the read transaction on SQLite,
    so the service's first statement takes the write lock (see services.lock_for_write)."""
    if not current_user.is_authenticated:
        raise NotAllowed(_("登录已过期，请重新登录后继续学习（本次未计时）。"), reason="signed_out")
    token = request.headers.get("X-CSRFToken") or data.get("csrf_token")
    try:
        validate_csrf(token)
    except ValidationError:
        raise NotAllowed(_("页面已过期，请刷新后继续学习。"), reason="stale_page") from None
    user_id = current_user.id
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.commit()
    return user_id


@bp.post("/sessions")
def start_session():
    data = _json_body()
    user_id = _learner_id(data)
    try:
        lesson_id = int(data.get("lesson_id"))
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(_("缺少课时编号。")) from None
    if not 0 < lesson_id <= beats.MAX_SEQ:
        raise NotFound(_("没有找到可以学习的课时。"))
    session, progress = play.start_session(user_id, lesson_id)
    body = play.start_body(session, progress)
    db.session.commit()
    return jsonify(body)


def _beating_learner_id(data: dict) -> tuple[int, LoginId | None]:
    """The hot path's cheaper sign-in check: the user id, login epoch and login session from the
    signed session cookie, with flask-login's "strong" session check, without loading the user (the
    service checks that the account is active, the epoch current and the login session live in the
    same query that locks the play session). Falls back to the full check (login None: already
    checked)."""
    login = parse_login_id(session.get("_user_id"))
    manager = current_app.login_manager
    if login is None or (
            manager.session_protection and session.get("_id") != manager._session_identifier_generator()):
        return _learner_id(data), None
    token = request.headers.get("X-CSRFToken") or data.get("csrf_token")
    try:
        validate_csrf(token)
    except ValidationError:
        raise NotAllowed(_("页面已过期，请刷新后继续学习。"), reason="stale_page") from None
    return login.user_id, login


@bp.post("/heartbeat")
def heartbeat():
    try:
        data = _json_body()
        user_id, login = _beating_learner_id(data)
        result = beats.record_heartbeat(user_id, beats.parse_beat(data), login=login)
    except DomainError as refused:
        BEATS_REFUSED.get(refused.reason, BEATS_REFUSED["other"]).inc()
        raise
    db.session.commit()
    if login is not None:  # the user was not loaded: the answer speaks the language the query read
        use_account_locale(result.locale)
    if result.status == "ok":
        BEATS_ACCEPTED.inc()
    else:
        BEATS_REFUSED.get(result.status, BEATS_REFUSED["other"]).inc()
    return jsonify(result.body), 409 if result.status == "superseded" else 200


@bp.post("/attention")
def attention():
    data = _json_body()
    user_id = _learner_id(data)
    body = play.answer_attention(user_id, str(data.get("session_id") or "")[:32])
    db.session.commit()
    return jsonify(body), 409 if body.get("status") == "superseded" else 200


@bp.get("/progress/<int:progress_id>")
def progress(progress_id: int):
    if not current_user.is_authenticated:
        raise NotAllowed(_("请先登录。"))
    item = services.get_own_progress(current_user, progress_id)
    lesson = item.lesson
    duration = float(lesson.duration_seconds or 0) if lesson.kind == "video" else services.reading_min_seconds()
    return jsonify(services.progress_summary(item, duration))
