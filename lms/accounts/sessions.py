"""Login sessions kept on the server, so that ending one ends every copy of its cookie.

flask-login keeps the user id string of :meth:`User.get_id` in the signed session cookie and, with
"在此设备上保持登录", in the signed remember-me cookie. That string is a :class:`LoginId`,
``"<user id>.<login epoch>.<session id>"``; the ``user_session`` row it names decides whether the
cookie still signs anyone in:

- logging out revokes this device's row; "退出所有设备" revokes every row of the user;
- a password change raises the login epoch (every cookie carrying the old one stops working, the
  heartbeat's check included) and revokes the user's other rows;
- a row expires ``LMS_REMEMBER_DAYS`` (30) after sign-in when remembered, else
  ``LMS_SESSION_HOURS`` after it, whatever the browser does with the cookie.

The rows live in the database, so every app node sees a logout at once. Page views read the row
with the user (one query) and move ``last_seen_at`` at most every ``LMS_SESSION_TOUCH_SECONDS``.
The heartbeat does not load the user: it checks the same conditions inside its one locking query
with :func:`live_session_clause`.

Worked example: user 42, epoch 3, signs in on a phone (row 901) and a laptop (row 902); the
laptop's cookie holds ``"42.3.902"``. Logging out on the laptop sets row 902's ``revoked_at``; a
copy of that cookie made earlier now loads nobody, while ``"42.3.901"`` on the phone still works.
A password change on the phone then makes the epoch 4 and revokes every other live row; the
phone's own cookie is written again as ``"42.4.901"``.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, and_, delete, exists, or_, select, update

from ..core.audit import record_event
from ..core.clock import utcnow_naive
from ..core.errors import NotFound
from ..extensions import db
from .models import User, UserSession

# Rows ended this long ago are deleted when the same user next signs in.
_KEEP_ENDED = timedelta(days=30)


@dataclass(frozen=True)
class LoginId:
    """The user id string of the session and remember-me cookies."""

    user_id: int
    login_epoch: int
    session_id: int

    def __str__(self) -> str:
        return f"{self.user_id}.{self.login_epoch}.{self.session_id}"


_LOGIN_ID = re.compile(r"([0-9]{1,18})\.([0-9]{1,9})\.([0-9]{1,18})")


def parse_login_id(value: str | None) -> LoginId | None:
    """The parts of a cookie's user id, or None for anything else (a cookie from before sessions
    were kept on the server, a malformed value)."""
    match = _LOGIN_ID.fullmatch(str(value or ""))
    if match is None:
        return None
    user_id, epoch, session_id = (int(part) for part in match.groups())
    return LoginId(user_id, epoch, session_id)


def live_session_clause(session_id, user_id, now) -> ColumnElement[bool]:
    """``EXISTS`` (one primary-key probe) for a query that holds the user id but does not load the
    user, as the heartbeat's: the login session ``session_id`` belongs to ``user_id``, has not been
    ended and has not expired. Arguments are SQL expressions or values (e.g. ``bindparam("sid")``,
    ``user_table.c.id``, ``bindparam("now")`` with :func:`lms.core.clock.utcnow_naive`)."""
    us = UserSession.__table__
    return exists().where(us.c.id == session_id, us.c.user_id == user_id, us.c.revoked_at.is_(None),
                          us.c.expires_at > now)


# ----------------------------------------------------------------------------- devices

_BROWSERS = (  # first match wins: Edge and most Chinese browsers also say "Chrome" and "Safari"
    (r"MicroMessenger/(\d+)", "微信"), (r"\bQQ/(\d+)", "QQ"), (r"DingTalk/(\d+)", "钉钉"),
    (r"Edg(?:e|A|iOS)?/(\d+)", "Edge"), (r"(?:OPR|Opera)/(\d+)", "Opera"),
    (r"QQBrowser/(\d+)", "QQ浏览器"), (r"UCBrowser/(\d+)", "UC浏览器"), (r"360SE|360EE", "360浏览器"),
    (r"SogouMobileBrowser|SE 2\.X MetaSr", "搜狗浏览器"), (r"HuaweiBrowser/(\d+)", "华为浏览器"),
    (r"(?:Firefox|FxiOS)/(\d+)", "Firefox"), (r"(?:Chrome|CriOS)/(\d+)", "Chrome"),
    (r"Version/(\d+)[.\d]* (?:Mobile/\S+ )?Safari/", "Safari"),
)
_SYSTEMS = (
    (r"HarmonyOS|OpenHarmony", "HarmonyOS"), (r"iPhone", "iPhone"), (r"iPad", "iPad"),
    (r"Android", "Android"), (r"Windows", "Windows"), (r"Mac OS X|Macintosh", "macOS"),
    (r"CrOS", "ChromeOS"), (r"Linux", "Linux"),
)


def describe_device(user_agent: str | None) -> str:
    """"Firefox 128 · Windows": what the profile page shows for a session, from its User-Agent
    (only this summary is kept, not the string)."""
    agent = user_agent or ""
    browser = next((f"{name} {m.group(1)}" if m.groups() and m.group(1) else name
                    for pattern, name in _BROWSERS if (m := re.search(pattern, agent))), "")
    system = next((name for pattern, name in _SYSTEMS if re.search(pattern, agent)), "")
    return " · ".join(part for part in (browser, system) if part) or _("未知设备")


# ----------------------------------------------------------------------------- lifecycle

def _lifetime(remember: bool) -> timedelta:
    config = current_app.config
    if remember:
        return timedelta(days=config["LMS_REMEMBER_DAYS"])
    return timedelta(hours=config["LMS_SESSION_HOURS"])


def start_session(user: User, *, remember: bool, user_agent: str | None) -> UserSession:
    """A new login session for ``user`` on this device; ``user.get_id()`` names it from now on."""
    now = utcnow_naive()
    db.session.execute(delete(UserSession).where(
        UserSession.user_id == user.id,
        or_(UserSession.expires_at < now - _KEEP_ENDED, UserSession.revoked_at < now - _KEEP_ENDED)))
    login_session = UserSession(user_id=user.id, created_at=now, last_seen_at=now, revoked_at=None,
                                expires_at=now + _lifetime(remember), remember=remember,
                                device=describe_device(user_agent))
    db.session.add(login_session)
    db.session.flush()
    user.login_session = login_session
    return login_session


def signed_in_user(login_id: str) -> User | None:
    """The user a cookie's user id signs in, with ``user.login_session`` set; None when the session
    was ended, has expired, or the password was changed since (one query)."""
    parsed = parse_login_id(login_id)
    if parsed is None:
        return None
    row = db.session.execute(
        select(User, UserSession).join(UserSession, and_(UserSession.user_id == User.id,
                                                         UserSession.id == parsed.session_id))
        .where(User.id == parsed.user_id)).first()
    if row is None:
        return None
    user, login_session = row
    if user.login_epoch != parsed.login_epoch or not login_session.is_live(utcnow_naive()):
        return None
    user.login_session = login_session
    return user


def needs_touch(login_session: UserSession, now: datetime | None = None) -> bool:
    """Whether ``last_seen_at`` is older than ``LMS_SESSION_TOUCH_SECONDS``."""
    now = now or utcnow_naive()
    return now - login_session.last_seen_at >= timedelta(seconds=current_app.config["LMS_SESSION_TOUCH_SECONDS"])


def touch_session(login_session: UserSession) -> None:
    """Record activity now (one UPDATE by primary key; loaded copies of the row are refreshed)."""
    db.session.execute(update(UserSession).where(UserSession.id == login_session.id)
                       .values(last_seen_at=utcnow_naive()))


def remaining(login_session: UserSession) -> timedelta:
    """How long the session has left (for a remember-me cookie written again)."""
    return max(login_session.expires_at - utcnow_naive(), timedelta(0))


def end_session(login_session: UserSession | None) -> None:
    """Log out this device: its cookies, and every copy of them, stop working."""
    if login_session is not None and login_session.revoked_at is None:
        login_session.revoked_at = utcnow_naive()
        db.session.flush()


def end_sessions(user: User, *, keep: UserSession | None = None) -> int:
    """End every live session of ``user`` (except ``keep``); returns how many were ended."""
    now = utcnow_naive()
    query = update(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None),
                                      UserSession.expires_at > now)
    if keep is not None:
        query = query.where(UserSession.id != keep.id)
    ended = db.session.execute(query.values(revoked_at=now))
    return ended.rowcount


def log_out_everywhere(user: User) -> int:
    """"退出所有设备": every session of the user ends, this one included."""
    ended = end_sessions(user)
    record_event(user, "user.sessions_ended", user, sessions=ended)
    return ended


def end_session_of(user: User, session_id: int) -> UserSession:
    """End one of the user's own sessions (from the list on the profile page)."""
    login_session = db.session.get(UserSession, session_id)
    if login_session is None or login_session.user_id != user.id:
        raise NotFound(_("没有找到这个登录设备，它可能已经退出。"))
    end_session(login_session)
    return login_session


def live_sessions(user: User) -> list[UserSession]:
    """The user's sessions that still sign in, most recently active first."""
    return list(db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None),
                                  UserSession.expires_at > utcnow_naive())
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())))
