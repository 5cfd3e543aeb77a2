"""Failed logins slow down guessing without locking out the person whose account it is.

Only failures count (a wrong password for an account that exists, or any password for a login
that names no account), and they are counted where the guessing is, not where the typing is:

- per **account**, on the account the login resolved to: the same person typed as mobile number,
  ID number (``x`` or ``X``), e-mail in capitals or with full-width digits is one account and has
  one budget. Counted since the last successful login, at most ``LMS_LOGIN_FAILURE_WINDOW_HOURS``
  back;
- per **source address**, over all logins from it in the last ``LMS_LOGIN_SOURCE_WINDOW_SECONDS``
  (one address spraying many accounts), with a larger free budget, since a workplace or a mobile
  carrier's NAT may put many people behind one address. Loopback addresses are not counted: they
  mean a proxy in front without ``LMS_PROXY_FIX``, where every visitor would share one budget;
- per **known browser**: a browser where the account signed in before carries a signed cookie
  naming it. Its failures are counted apart from strangers', and its address's budget does not
  apply to it, so guesses from elsewhere (or from the same NAT) never slow down the owner on a
  browser they have used before (the cookie alone does not sign in anyone).

There is no lock. After ``free`` failures each further attempt waits for a delay that doubles
from ``LMS_LOGIN_DELAY_SECONDS`` up to ``LMS_LOGIN_MAX_DELAY_SECONDS`` after the last failure
(:func:`delay_after`); during it the attempt is refused before the password is checked, with the
number of seconds to wait, and the right password works once it has passed. With the defaults
(5 free, 30 s doubling to 15 min) a guesser gets about 100 tries a day per account, while a person
who mistyped five times waits half a minute.

When the owner next signs in they are told how many wrong passwords were tried since their
previous login, and when (:attr:`LoginOutcome.failures_since_last_login`).

Failures live in the ``login_failure`` table, so every app node counts the same failures, on the
embedded SQLite default as on PostgreSQL; rows are deleted after ``_KEEP`` (30 days). Two
simultaneous guesses may both pass the check before either is recorded: the per-address request
limit (``LMS_LOGIN_RATE_LIMIT``, Flask-Limiter) bounds that.
"""

import ipaddress
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, func, select

from ..core.clock import utcnow_naive
from ..extensions import db
from . import services
from .models import LoginFailure, User

_KEEP = timedelta(days=30)
_NOTICE_TIMES = 5  # the notice lists at most this many times (the latest)


def delay_after(failures: int, *, free: int, base: float, cap: float) -> float:
    """Seconds the next attempt waits after the last of ``failures`` failures: none while
    ``failures < free``, then ``base``, doubling with each further failure, never above ``cap``.

    >>> [delay_after(n, free=5, base=30, cap=900) for n in (4, 5, 6, 7, 10, 50)]
    [0, 30, 60, 120, 900, 900]
    """
    if failures < free:
        return 0
    return min(cap, base * 2 ** min(failures - free, 32))


@dataclass(frozen=True)
class LoginOutcome:
    user: User | None = None
    # Attempt refused before the password was checked: wait this many seconds.
    wait_seconds: int = 0
    # On success: the times of wrong-password attempts on the account since the previous login
    # (not counting those from this browser), latest first, at most _NOTICE_TIMES of them.
    failures_since_last_login: int = 0
    failure_times: tuple[datetime, ...] = field(default_factory=tuple)
    # On failure: the next attempt (from here) has to wait this long.
    next_wait_seconds: int = 0


# ----------------------------------------------------------------------------- known browsers

def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="lms-known-device")


def known_device_token(user: User, device: str | None = None) -> tuple[str, str]:
    """(cookie value, device id) marking this browser as one where ``user`` signed in."""
    device = device or secrets.token_hex(8)
    return _device_serializer().dumps({"u": user.id, "d": device}), device


def device_for(cookie: str | None) -> tuple[int, str] | None:
    """(user id, device id) from a known-browser cookie, or None if it is missing, forged or older
    than ``LMS_KNOWN_DEVICE_DAYS``."""
    if not cookie:
        return None
    try:
        data = _device_serializer().loads(cookie, max_age=current_app.config["LMS_KNOWN_DEVICE_DAYS"] * 86400)
    except BadSignature:  # also SignatureExpired
        return None
    if not (isinstance(data, dict) and isinstance(data.get("u"), int) and isinstance(data.get("d"), str)):
        return None
    return data["u"], data["d"][:32]


# ----------------------------------------------------------------------------- the policy

def _wait(count: int, last: datetime | None, now: datetime, *, free: int) -> int:
    config = current_app.config
    delay = delay_after(count, free=free, base=config["LMS_LOGIN_DELAY_SECONDS"],
                        cap=config["LMS_LOGIN_MAX_DELAY_SECONDS"])
    if not delay or last is None:
        return 0
    remaining = (last + timedelta(seconds=delay) - now).total_seconds()
    return max(0, int(-(-remaining // 1)))  # whole seconds, rounded up


def _account_since(user: User, now: datetime) -> datetime:
    since = now - timedelta(hours=current_app.config["LMS_LOGIN_FAILURE_WINDOW_HOURS"])
    return max(since, user.last_login_at) if user.last_login_at else since


def _count(*conditions) -> tuple[int, datetime | None]:
    return db.session.execute(select(func.count(LoginFailure.id), func.max(LoginFailure.at))
                              .where(*conditions)).one()


def counted_source(source: str | None) -> bool:
    try:
        return bool(source) and not ipaddress.ip_address(source).is_loopback
    except ValueError:
        return False


def wait_seconds(user: User | None, *, source: str | None, device: str | None, now: datetime) -> int:
    """How long the next attempt on ``user`` (None: a login naming no account) from ``source``
    with this browser's ``device`` id (None: not known for this account) has to wait."""
    config = current_app.config
    waits = [0]
    if device is None and counted_source(source):
        count, last = _count(LoginFailure.source == source,
                             LoginFailure.at > now - timedelta(seconds=config["LMS_LOGIN_SOURCE_WINDOW_SECONDS"]))
        waits.append(_wait(count, last, now, free=config["LMS_LOGIN_SOURCE_FREE_FAILURES"]))
    if user is not None:
        same_browser = LoginFailure.device == device if device else LoginFailure.device.is_(None)
        count, last = _count(LoginFailure.user_id == user.id, LoginFailure.at > _account_since(user, now),
                             same_browser)
        waits.append(_wait(count, last, now, free=config["LMS_LOGIN_FREE_FAILURES"]))
    return max(waits)


def record_failure(user: User | None, *, source: str | None, device: str | None, now: datetime) -> None:
    db.session.execute(delete(LoginFailure).where(LoginFailure.at < now - _KEEP))
    db.session.add(LoginFailure(user_id=user.id if user is not None else None, source=(source or None),
                                device=device, at=now))
    db.session.flush()


def attempt_login(login: str, password: str, *, source: str | None, device_cookie: str | None) -> LoginOutcome:
    """One login attempt through the throttle. Raises what :func:`services.authenticate` raises
    (a disabled account). Flushes; the caller commits, whatever the outcome."""
    now = utcnow_naive()
    account = services.find_by_login(login)
    known = device_for(device_cookie)
    device = known[1] if account is not None and known is not None and known[0] == account.id else None
    wait = wait_seconds(account, source=source, device=device, now=now)
    if wait:
        return LoginOutcome(wait_seconds=wait)
    previous_login = account.last_login_at if account is not None else None
    user = services.authenticate(login, password)
    if user is None:
        record_failure(account, source=source, device=device, now=now)
        return LoginOutcome(next_wait_seconds=wait_seconds(account, source=source, device=device, now=now))
    conditions = [LoginFailure.user_id == user.id]
    if previous_login is not None:
        conditions.append(LoginFailure.at > previous_login)
    if device is not None:  # this browser's own typos are not news to the person at it
        conditions.append((LoginFailure.device != device) | LoginFailure.device.is_(None))
    count = db.session.scalar(select(func.count(LoginFailure.id)).where(*conditions))
    times = tuple(db.session.scalars(select(LoginFailure.at).where(*conditions)
                                     .order_by(LoginFailure.at.desc()).limit(_NOTICE_TIMES)))
    return LoginOutcome(user=user, failures_since_last_login=count, failure_times=times)
