"""找回密码 and contact verification: one-time codes sent by mail or text message.

The rules, each checked by tests/unit/test_recovery.py (a state machine interleaves them):

- **A code or link resets at most once, only its own account, only before it expires.** A reset
  link (mail) holds a 256-bit secret and lives ``LMS_RESET_LINK_MINUTES`` (30); a code by text
  message is six digits and lives ``LMS_RESET_CODE_MINUTES`` (10), and dies after
  ``LMS_RECOVERY_CODE_ATTEMPTS`` (5) wrong entries. A successful reset also ends the account's
  other live reset codes.
- **Only a keyed hash is stored**: HMAC-SHA256 under a key derived from ``LMS_DATA_KEY`` over the
  code's row id, account, purpose and secret, so a copy of the database neither holds a code nor
  lets anyone try the million six-digit codes against it. The message carrying the code waits in
  the outbox encrypted and is erased once sent (lms/outbox/personal.py). No code is ever logged.
- **The answer never says whether an account exists.** A request naming nobody, a disabled
  account, an account without the chosen contact, or one over its limit gets the same page after
  the same work (one request row written, one lookup); the sending happens after the commit, in
  the outbox, so no mail server's delay shows either. A wrong code says the same for every account.
- **Rate limits**, over ``LMS_RECOVERY_WINDOW_MINUTES`` (60): ``LMS_RECOVERY_PER_ACCOUNT`` (5)
  codes sent to one account, and as many to one address (an address an operator typed in is
  counted too); ``LMS_RECOVERY_PER_SOURCE`` (20) requests from one client address, whether or not
  they named an account (only this one is shown, since it does not depend on the account).
  Requests past a limit send nothing.
- **A reset ends every session** of the account (the login epoch moves, lms/accounts/sessions.py).
- **Requests naming one account at once take turns**: sending, checking and using its codes hold
  the account's row lock (``_locked_account``), so on PostgreSQL parallel requests neither send past
  the limit, nor lose wrong entries, nor reset twice with one code (tests/web/test_recovery_attacks.py).

Worked example: 张三 (mobile 13800000001) asks for a code by text message at 09:00. Row 7 is
written with ``hmac(key, "7:42:reset:318245")``; the text says 318245 and expires at 09:10. At
09:03 someone types 000000 for his mobile: row 7 counts one wrong entry and the page says the code
is wrong or no longer valid, as it would for a mobile that has no account. At 09:04 张三 types
318245 and a new password: the password changes, row 7 is used, his phone and laptop are signed
out. Typing 318245 again says the code was used already; at 09:11 it would say it expired.
"""

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from hmac import compare_digest

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, func, select, update

from ..core.audit import record_event
from ..core.clock import utcnow_naive
from ..core.database import advisory_lock
from ..core.errors import Conflict, InvalidInput, NotAllowed
from ..core.keys import keyed_hash
from ..core.messages import Channel, PersonalMessage, queue_message
from ..core.web import public_url
from ..extensions import db
from . import crypto, services, sessions, throttle
from .identifiers import IdentifierError, normalize_email, normalize_mobile
from .models import LoginFailure, RecoveryCode, RecoveryRequest, Role, User

RESET = "reset"
VERIFY_EMAIL = "verify_email"
VERIFY_MOBILE = "verify_mobile"
_VERIFY_PURPOSE = {Channel.MAIL: VERIFY_EMAIL, Channel.SMS: VERIFY_MOBILE}
_KEEP = timedelta(days=30)  # request rows older than this are deleted
_LOOKBACK = timedelta(days=1)  # codes compared with what was typed: those of the last day


@dataclass(frozen=True)
class RequestOutcome:
    """What a reset request may tell the visitor: only the wait of their client address, which does
    not depend on the account. Whether anything was sent stays inside (tests read ``sent``)."""

    wait_minutes: int = 0
    sent: bool = False


@dataclass(frozen=True)
class CodeOutcome:
    """The result of typing a code: the account it worked for, or why not (a wrong code is counted,
    so it is an outcome to commit rather than an error that rolls back)."""

    user: User | None = None
    error: str | None = None


# ----------------------------------------------------------------------------- small rules

def channels() -> list[str]:
    """The ways codes can be sent here: mail when an SMTP server is set, text when a sender is."""
    config = current_app.config
    found = []
    if config.get("LMS_SMTP_HOST"):
        found.append(Channel.MAIL)
    if config.get("LMS_SMS_SENDER"):
        found.append(Channel.SMS)
    return found


def mask_address(address: str) -> str:
    """``138****0001``, ``z***@example.org``: enough to recognize, not to reuse."""
    if "@" in address:
        name, domain = address.split("@", 1)
        return f"{name[:1]}***@{domain}"
    return f"{address[:3]}****{address[-4:]}"


def _address_hash(address: str) -> str:
    return keyed_hash(b"recovery-destination", address)


def _secret_hash(code: RecoveryCode, secret: str) -> str:
    return keyed_hash(b"recovery-code", f"{code.id}:{code.user_id}:{code.purpose}:{secret}")


def _matches(code: RecoveryCode, secret: str) -> bool:
    return compare_digest(code.secret_hash, _secret_hash(code, secret))


def _link_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="lms-password-reset-link")


def _window_start(now: datetime) -> datetime:
    return now - timedelta(minutes=current_app.config["LMS_RECOVERY_WINDOW_MINUTES"])


def _contact(user: User, channel: str) -> str | None:
    return user.email if channel == Channel.MAIL else user.mobile


def _locked_account(user_id: int) -> User | None:
    """The account, read afresh under its row lock until the commit: requests naming one account at
    once (PostgreSQL runs them side by side) count, check and use its codes one after the other.
    SQLite takes its single write lock at the start of the request already. Unlike the console's
    ``accounts.services._lock_account`` it does not wait for the admins' lock: recovery never
    takes an admin away, and requests for different accounts need not wait on each other."""
    return db.session.scalar(select(User).where(User.id == user_id).with_for_update()
                             .execution_options(populate_existing=True))


# Any constant: the first key of the PostgreSQL advisory locks (two-key form) that order sends to one
# address; the second key is taken from the address's hash.
_ADDRESS_LOCK_SPACE = 0x67787263  # "gxrc"


def _lock_address(address_hash: str) -> None:
    """PostgreSQL: wait for other sends to this address to commit, so that sends for different
    accounts (each under its own account lock) count the address's codes one after the other. Taken
    after the account's row lock, never before it, so two sends cannot wait on each other. SQLite
    takes its single write lock at the start of the request already."""
    advisory_lock(_ADDRESS_LOCK_SPACE, int(address_hash[:8], 16) - 2**31)  # the second key: a signed 32-bit integer


def _typed_code(raw: str | None) -> str:
    """Six digits, however typed (full-width digits, spaces); else a message to fix it."""
    value = "".join(unicodedata.normalize("NFKC", raw or "").split())
    if len(value) != 6 or not value.isascii() or not value.isdigit():
        raise InvalidInput(_("请输入收到的 6 位数字验证码。"), field="code")
    return value


# ----------------------------------------------------------------------------- sending codes

def _over_limit(user_id: int, address: str, now: datetime, *, per_account: bool) -> bool:
    limit = current_app.config["LMS_RECOVERY_PER_ACCOUNT"]
    since = _window_start(now)
    to_address = db.session.scalar(select(func.count(RecoveryCode.id)).where(
        RecoveryCode.destination_hash == _address_hash(address), RecoveryCode.created_at > since))
    if to_address >= limit:
        return True
    if not per_account:
        return False
    to_account = db.session.scalar(select(func.count(RecoveryCode.id)).where(
        RecoveryCode.user_id == user_id, RecoveryCode.created_at > since))
    return to_account >= limit


def _compose(user: User, purpose: str, channel: str, secret: str, minutes: int) -> tuple[str, str]:
    """(subject, text) of the message carrying ``secret``."""
    if purpose == RESET and channel == Channel.MAIL:
        link = public_url("accounts.reset_with_link") + "#" + secret
        return _("重设密码"), _(
            "%(name)s，您好：\n\n有人（希望是您本人）申请重设您在本平台的账号密码。请在 %(minutes)d 分钟内打开下面的链接，"
            "设置新密码（链接只能使用一次）：\n\n%(link)s\n\n如果不是您本人申请，请忽略本邮件，您的密码不会改变。",
            name=user.real_name, minutes=minutes, link=link)
    if purpose == RESET:
        return "", _("您正在重设平台账号的密码，验证码 %(code)s，%(minutes)d 分钟内有效，只能使用一次。请勿告诉他人。",
                      code=secret, minutes=minutes)
    text = _("您正在验证平台账号的联系方式，验证码 %(code)s，%(minutes)d 分钟内有效。请勿告诉他人。",
             code=secret, minutes=minutes)
    return _("验证电子邮箱"), text


def issue_code(user: User, purpose: str, channel: str, address: str, *, sent_by: User | None = None,
               now: datetime | None = None) -> RecoveryCode | None:
    """Write a code for ``user`` and queue the message carrying it to ``address``; None when a rate
    limit holds (nothing written). An operator's send (``sent_by``) is limited per address only."""
    now = now or utcnow_naive()
    _locked_account(user.id)
    _lock_address(_address_hash(address))
    if _over_limit(user.id, address, now, per_account=sent_by is None):
        return None
    link = purpose == RESET and channel == Channel.MAIL
    config = current_app.config
    minutes = config["LMS_RESET_LINK_MINUTES"] if link else config["LMS_RESET_CODE_MINUTES"]
    secret = secrets.token_urlsafe(32) if link else f"{secrets.randbelow(10**6):06d}"
    code = RecoveryCode(user_id=user.id, purpose=purpose, channel=channel, destination_hash=_address_hash(address),
                        destination_masked=mask_address(address), secret_hash="", created_at=now,
                        expires_at=now + timedelta(minutes=minutes), used_at=None, failed_attempts=0,
                        sent_by_id=getattr(sent_by, "id", None))
    db.session.add(code)
    db.session.flush()
    code.secret_hash = _secret_hash(code, secret)
    shown = _link_serializer().dumps([code.id, secret]) if link else secret
    subject, text = _compose(user, purpose, channel, shown, minutes)
    queue_message(PersonalMessage(channel=channel, to=address, subject=subject, text=text, purpose=purpose,
                                  expires_at=code.expires_at))
    db.session.flush()
    return code


def request_reset(login: str, channel: str, *, source: str | None, now: datetime | None = None) -> RequestOutcome:
    """找回密码: send a reset link (mail) or code (text) to the contact the account named by
    ``login`` (ID number, mobile or e-mail) registered. The outcome is the same whether or not
    such an account exists; only the client address's own limit is told."""
    if channel not in channels():
        raise InvalidInput(_("本平台暂未开通这种找回方式，请选择其他方式，或联系平台管理员。"), field="channel")
    now = now or utcnow_naive()
    config = current_app.config
    db.session.execute(delete(RecoveryRequest).where(RecoveryRequest.at < now - _KEEP))
    if throttle.counted_source(source):
        recent = db.session.scalar(select(func.count(RecoveryRequest.id)).where(
            RecoveryRequest.source == source, RecoveryRequest.at > _window_start(now)))
        if recent >= config["LMS_RECOVERY_PER_SOURCE"]:
            return RequestOutcome(wait_minutes=config["LMS_RECOVERY_WINDOW_MINUTES"])
    db.session.add(RecoveryRequest(source=source, at=now))
    db.session.flush()
    user = services.find_by_login(login)
    address = _contact(user, channel) if user is not None and user.is_active_account else None
    if address is None:
        # The same lookups as a send would make, so that the answer takes about as long.
        _over_limit(0, secrets.token_hex(8), now, per_account=True)
        return RequestOutcome()
    code = issue_code(user, RESET, channel, address, now=now)
    if code is not None:
        record_event(None, "user.reset_requested", user, channel=channel, to=code.destination_masked,
                     code_id=code.id, ip=source)
    return RequestOutcome(sent=code is not None)


# ----------------------------------------------------------------------------- using codes

def _complete_reset(code: RecoveryCode, user: User, new_password: str, now: datetime) -> User:
    if not user.is_active_account:
        raise NotAllowed(_("该账号已停用，请联系平台管理员。"))
    services.check_password_strength(new_password, personal=(
        crypto.decrypt(user.id_number_encrypted), user.mobile or "", user.email or ""))
    user.password_hash = services.hash_password(new_password)
    user.login_epoch = (user.login_epoch or 0) + 1  # every cookie of the account stops working
    ended = sessions.end_sessions(user)
    code.used_at = now
    # The account's other reset codes die with this one: a reset is the end of the recovery.
    db.session.execute(update(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.purpose == RESET, RecoveryCode.used_at.is_(None),
        RecoveryCode.id != code.id).values(used_at=now))
    if code.channel == Channel.MAIL and code.sent_by_id is None and user.email and not user.email_verified_at:
        user.email_verified_at = now  # the link reached the registered address
    record_event(None, "user.password_reset_by_code", user, channel=code.channel, code_id=code.id,
                 sessions_ended=ended, sent_by_id=code.sent_by_id)
    db.session.flush()
    return user


def link_code(token: str) -> RecoveryCode:
    """The reset code a mailed link names, if it is one of ours and may still be used; else a
    message that says what happened and what to do."""
    try:
        code_id, secret = _link_serializer().loads(token or "")
        code = db.session.get(RecoveryCode, int(code_id), populate_existing=True)
    except (BadSignature, ValueError, TypeError):
        code = None
        secret = ""
    if code is None or code.purpose != RESET or code.channel != Channel.MAIL or not _matches(code, str(secret)):
        raise InvalidInput(_("这个重设密码链接不完整或已被改动。请从邮件中完整复制链接后打开，或重新申请找回密码。"))
    if code.used_at is not None:
        raise InvalidInput(_("这个重设密码链接已经用过（或已被之后的重设取代），每个链接只能使用一次。如需再次重设，请重新申请找回密码。"))
    if code.expires_at <= utcnow_naive():
        raise InvalidInput(_("这个重设密码链接已过期（有效期 %(minutes)d 分钟）。请重新申请找回密码。",
                             minutes=current_app.config["LMS_RESET_LINK_MINUTES"]))
    return code


def reset_with_link(token: str, new_password: str, *, now: datetime | None = None) -> User:
    """Set a new password with a mailed link; raises InvalidInput (nothing changed) when the link is
    broken, used, expired, or the password too weak."""
    user = _locked_account(link_code(token).user_id)
    code = link_code(token)  # again under the lock: a use of the same link at the same moment has ended
    return _complete_reset(code, user, new_password, now or utcnow_naive())


def _check_code(user: User | None, purposes: tuple[str, ...], typed: str, now: datetime) -> RecoveryCode | str:
    """The live code of ``user`` that ``typed`` is, or the message to show. A wrong code counts
    against every live code of the account (each dies after LMS_RECOVERY_CODE_ATTEMPTS)."""
    wrong = _("验证码不正确或已失效。请核对短信或邮件中的验证码，以及填写的账号；也可以重新获取验证码。")
    if user is None:
        return wrong
    attempts = current_app.config["LMS_RECOVERY_CODE_ATTEMPTS"]
    _locked_account(user.id)  # parallel guesses are counted one after the other, none lost
    recent = list(db.session.scalars(select(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.purpose.in_(purposes), RecoveryCode.created_at > now - _LOOKBACK)
        .order_by(RecoveryCode.id.desc()).execution_options(populate_existing=True)))
    candidates = [c for c in recent if not (c.purpose == RESET and c.channel == Channel.MAIL)]
    live = [c for c in candidates if c.used_at is None and c.expires_at > now and c.failed_attempts < attempts]
    for code in candidates:
        if _matches(code, typed):
            if code in live:
                return code
            # Only the one who received the code can get here: telling why does not reveal the account.
            if code.used_at is not None:
                return _("这个验证码已经用过，每个验证码只能使用一次。请重新获取验证码。")
            if code.expires_at <= now:
                return _("这个验证码已过期。请重新获取验证码。")
            return _("这个验证码输错次数过多，已失效。请重新获取验证码。")
    for code in live:
        code.failed_attempts += 1
    db.session.flush()
    return wrong


def reset_with_code(login: str, typed: str, new_password: str, *, now: datetime | None = None) -> CodeOutcome:
    """Set a new password with a code received by text message. Raises InvalidInput for a malformed
    code or a weak password (nothing changed); a wrong code is an outcome, counted."""
    now = now or utcnow_naive()
    typed = _typed_code(typed)
    # Judged first on what does not depend on the account, so a weak password says nothing about it.
    services.check_password_strength(new_password, personal=(login or "",))
    user = services.find_by_login(login)
    found = _check_code(user, (RESET,), typed, now)
    if isinstance(found, str):
        return CodeOutcome(error=found)
    return CodeOutcome(user=_complete_reset(found, user, new_password, now))


# ----------------------------------------------------------------------------- verifying contacts

def send_verification(user: User, channel: str, *, now: datetime | None = None) -> RecoveryCode:
    """Send a code to the account's own mobile or e-mail, to confirm it reaches them."""
    address = _contact(user, channel)
    if address is None:
        raise InvalidInput(_("您的账号没有填写这项联系方式。"), field="channel")
    if channel not in channels():
        raise InvalidInput(_("本平台暂未开通这种验证方式。"), field="channel")
    code = issue_code(user, _VERIFY_PURPOSE[channel], channel, address, now=now)
    if code is None:
        raise Conflict(_("验证码发送过于频繁，请 %(minutes)d 分钟后再试。",
                         minutes=current_app.config["LMS_RECOVERY_WINDOW_MINUTES"]))
    record_event(user, "user.verification_sent", user, channel=channel, to=code.destination_masked, code_id=code.id)
    return code


def verify_contact(user: User, channel: str, typed: str, *, now: datetime | None = None) -> CodeOutcome:
    """Mark the account's mobile or e-mail verified with the code sent there."""
    now = now or utcnow_naive()
    typed = _typed_code(typed)
    found = _check_code(user, (_VERIFY_PURPOSE[channel],), typed, now)
    if isinstance(found, str):
        return CodeOutcome(error=found)
    if found.destination_hash != _address_hash(_contact(user, channel) or ""):
        return CodeOutcome(error=_("这个验证码发往的联系方式已不是账号当前的联系方式，请重新获取验证码。"))
    found.used_at = now
    if channel == Channel.MAIL:
        user.email_verified_at = now
    else:
        user.mobile_verified_at = now
    record_event(user, "user.contact_verified", user, channel=channel, code_id=found.id)
    db.session.flush()
    return CodeOutcome(user=user)


# ----------------------------------------------------------------------------- operators

def _parse_address(address: str) -> tuple[str, str]:
    """(channel, normalized address) of what an operator typed: an e-mail or a mobile number."""
    raw = (address or "").strip()
    try:
        if "@" in unicodedata.normalize("NFKC", raw):  # a full-width at sign too
            return Channel.MAIL, normalize_email(raw) or ""
        return Channel.SMS, normalize_mobile(raw)
    except IdentifierError as exc:
        raise InvalidInput(str(exc), field="address") from None


def send_reset_to_address(actor: User, user: User, address: str, *, now: datetime | None = None) -> RecoveryCode:
    """For someone without working mail or phone: an operator sends a reset link (e-mail) or code
    (mobile) to an address they typed after checking who the person is. Audited; the account's
    stored contacts do not change."""
    if not actor.has_role(Role.ADMIN):
        raise NotAllowed(_("只有平台管理员可以代为发送重设密码。"))
    channel, clean = _parse_address(address)
    if not clean:
        raise InvalidInput(_("请填写新的电子邮箱或手机号。"), field="address")
    if channel not in channels():
        raise InvalidInput(_("本平台暂未开通这种发送方式（未配置邮件服务器或短信发送）。"), field="address")
    code = issue_code(user, RESET, channel, clean, sent_by=actor, now=now)
    if code is None:
        raise Conflict(_("这个地址近期已收到多次重设邮件或短信，请 %(minutes)d 分钟后再试。",
                         minutes=current_app.config["LMS_RECOVERY_WINDOW_MINUTES"]), field="address")
    record_event(actor, "user.reset_sent_to_address", user, channel=channel, to=code.destination_masked,
                 code_id=code.id)
    return code


def unlock_account(actor: User, user: User) -> int:
    """Lift the login delay of an account (its recorded wrong passwords are cleared) so the person
    can sign in at once. Audited; returns how many failures were cleared."""
    if not actor.has_role(Role.ADMIN):
        raise NotAllowed(_("只有平台管理员可以解除登录限制。"))
    cleared = db.session.execute(delete(LoginFailure).where(LoginFailure.user_id == user.id)).rowcount
    record_event(actor, "user.unlocked", user, login_failures_cleared=cleared)
    db.session.flush()
    return cleared


def recovery_history(user: User, limit: int = 10) -> list[RecoveryCode]:
    """The account's latest codes (the operator's page lists where they went and whether used)."""
    return list(db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)
                                   .order_by(RecoveryCode.id.desc()).limit(limit)))


def login_failure_count(user: User) -> int:
    return db.session.scalar(select(func.count(LoginFailure.id)).where(LoginFailure.user_id == user.id))


def register_learner(data: services.PersonData) -> User:
    """Registration; with ``LMS_VERIFY_CONTACT`` on, a code also goes to the new account's mobile
    (or, without one or without text messages, its e-mail) to confirm it."""
    user = services.register_learner(data)
    if current_app.config["LMS_VERIFY_CONTACT"]:
        for channel in (Channel.SMS, Channel.MAIL):
            address = _contact(user, channel)
            if address and channel in channels():
                code = issue_code(user, _VERIFY_PURPOSE[channel], channel, address)
                if code is not None:
                    record_event(user, "user.verification_sent", user, channel=channel, to=code.destination_masked,
                                 code_id=code.id)
                break
    return user
