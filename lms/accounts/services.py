"""Account operations. Services flush; the caller (request, CLI command, job) commits."""

import re
import unicodedata
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import or_, select
from werkzeug.security import check_password_hash, generate_password_hash

from ..core import signals
from ..core.audit import record_event
from ..core.clock import utcnow_naive
from ..core.database import advisory_lock
from ..core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from ..core.i18n import offered
from ..extensions import db
from . import crypto, sessions
from .identifiers import (
    IdentifierError,
    mask_id_number,
    normalize_credit_code,
    normalize_email,
    normalize_id_number,
    normalize_mobile,
)
from .models import (
    ORG_ROLES,
    REGION_ROLES,
    EmploymentStatus,
    Organization,
    OrgKind,
    Region,
    Role,
    RoleGrant,
    TitleLevel,
    User,
)
from .regions import PROVINCES

_COMMON_PASSWORDS = {
    "password", "password1", "12345678", "123456789", "1234567890", "qwerty123", "abc12345",
    "a1234567", "11111111", "88888888", "iloveyou", "admin123", "woaini1314", "qq123456",
}


@dataclass(frozen=True)
class PersonData:
    real_name: str
    id_number: str
    password: str
    mobile: str | None = None
    email: str | None = None
    region_code: str | None = None
    employer_name: str | None = None
    employer_credit_code: str | None = None
    title_series: str | None = None


def ensure_regions() -> int:
    """Insert the province list where missing; returns how many were added."""
    existing = set(db.session.scalars(select(Region.code)))
    added = [Region(code=code, name=name) for code, name in PROVINCES.items() if code not in existing]
    db.session.add_all(added)
    db.session.flush()
    return len(added)


def region_names() -> list[tuple[str, str]]:
    """Every region as (code, name), by code: the choices of the forms that ask for one."""
    return [(code, name) for code, name in db.session.execute(select(Region.code, Region.name).order_by(Region.code))]


def check_password_strength(password: str, *, personal: tuple[str, ...] = ()) -> None:
    if len(password) < 8:
        raise InvalidInput(_("密码至少 8 位。"), field="password")
    if len(password) > 128:
        raise InvalidInput(_("密码最多 128 位。"), field="password")
    if not (re.search(r"[A-Za-z]", password) and re.search(r"\d", password)):
        raise InvalidInput(_("密码须同时包含字母和数字。"), field="password")
    if password.lower() in _COMMON_PASSWORDS or len(set(password)) < 4:
        raise InvalidInput(_("密码过于常见，容易被猜中，请换一个。"), field="password")
    lowered = password.lower()
    for item in personal:
        if item and len(item) >= 6 and (item.lower() in lowered or lowered in item.lower()):
            raise InvalidInput(_("密码不能包含身份证号、手机号或邮箱。"), field="password")


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["LMS_PASSWORD_METHOD"])


def _clean_person(data: PersonData) -> dict:
    real_name = (data.real_name or "").strip()
    if not 2 <= len(real_name) <= 50:
        raise InvalidInput(_("请填写 2–50 个字的真实姓名（与身份证一致）。"), field="real_name")
    try:
        id_number = normalize_id_number(data.id_number)
    except IdentifierError as exc:
        raise InvalidInput(str(exc), field="id_number") from None
    try:
        mobile = normalize_mobile(data.mobile) if (data.mobile or "").strip() else None
    except IdentifierError as exc:
        raise InvalidInput(str(exc), field="mobile") from None
    try:
        email = normalize_email(data.email)
    except IdentifierError as exc:
        raise InvalidInput(str(exc), field="email") from None
    if not mobile and not email:
        raise InvalidInput(_("请至少填写手机号或电子邮箱中的一项，以便联系您。"), field="mobile")
    region_code = data.region_code or None
    if region_code and db.session.get(Region, region_code) is None:
        raise InvalidInput(_("请选择所在地区。"), field="region_code")
    check_password_strength(data.password, personal=(id_number, mobile or "", email or ""))
    return {"real_name": real_name, "id_number": id_number, "mobile": mobile, "email": email,
            "region_code": region_code}


def _check_unique(id_hash: str, mobile: str | None, email: str | None) -> None:
    if db.session.scalar(select(User.id).where(User.id_number_hash == id_hash)):
        raise Conflict(_("该身份证号已注册。请用注册时的手机号、电子邮箱或身份证号登录；如忘记密码，请点击页面下方的“忘记密码？”，通过邮箱或短信找回。"),
                       field="id_number")
    if mobile and db.session.scalar(select(User.id).where(User.mobile == mobile)):
        raise Conflict(_("该手机号已被其他账号使用。"), field="mobile")
    if email and db.session.scalar(select(User.id).where(User.email == email)):
        raise Conflict(_("该电子邮箱已被其他账号使用。"), field="email")


def _comparable_name(name: str) -> str:
    """Full-width and half-width forms and spaces do not make a different organization."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name))


def find_or_create_employer(name: str, credit_code: str, region_code: str | None) -> Organization:
    name = (name or "").strip()
    if not 2 <= len(name) <= 120:
        raise InvalidInput(_("请填写工作单位全称。"), field="employer_name")
    try:
        code = normalize_credit_code(credit_code)
    except IdentifierError as exc:
        raise InvalidInput(str(exc), field="employer_credit_code") from None
    org = db.session.scalar(select(Organization).where(Organization.credit_code == code))
    if org is None:
        org = Organization(name=name, kind=OrgKind.EMPLOYER, credit_code=code, region_code=region_code)
        db.session.add(org)
        db.session.flush()
    elif _comparable_name(org.name) != _comparable_name(name):
        raise InvalidInput(
            _("统一社会信用代码 %(code)s 已登记为“%(name)s”。请核对单位名称或代码。", code=code, name=org.name), field="employer_name"
        )
    return org


def create_person(actor: User | None, data: PersonData, *, roles=(Role.LEARNER,)) -> User:
    """Create an account. Used by registration (actor None), the CLI and the admin pages."""
    clean = _clean_person(data)
    id_hash = crypto.lookup_hash(clean["id_number"])
    _check_unique(id_hash, clean["mobile"], clean["email"])
    employer = None
    if data.employer_name or data.employer_credit_code:
        employer = find_or_create_employer(data.employer_name or "", data.employer_credit_code or "",
                                           clean["region_code"])
    user = User(
        real_name=clean["real_name"],
        id_number_encrypted=crypto.encrypt(clean["id_number"]),
        id_number_hash=id_hash,
        id_number_masked=mask_id_number(clean["id_number"]),
        mobile=clean["mobile"],
        email=clean["email"],
        password_hash=hash_password(data.password),
        employer=employer,
        employment_status=EmploymentStatus.PENDING,
        region_code=clean["region_code"],
        title_series=(data.title_series or "").strip() or None,
    )
    db.session.add(user)
    db.session.flush()
    for role in roles:
        grant_role(actor, user, Role(role))
    record_event(actor or user, "user.created", user)
    return user


def register_learner(data: PersonData) -> User:
    user = create_person(None, data)
    signals.user_registered.send(current_app._get_current_object(), user=user)
    return user


_DUMMY_HASHES: dict[str, str] = {}


def _dummy_hash() -> str:
    method = current_app.config["LMS_PASSWORD_METHOD"]
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = generate_password_hash("not-a-password-0", method=method)
    return _DUMMY_HASHES[method]


def find_by_login(login: str) -> User | None:
    """The account a login names: mobile, ID number or e-mail, folded as they were at registration."""
    conditions = []
    for normalize, condition in ((normalize_mobile, lambda v: User.mobile == v),
                                 (normalize_id_number, lambda v: User.id_number_hash == crypto.lookup_hash(v)),
                                 (normalize_email, lambda v: User.email == v)):
        try:
            value = normalize(login)
        except IdentifierError:
            continue
        if value:
            conditions.append(condition(value))
    if not conditions:
        return None
    return db.session.scalar(select(User).where(or_(*conditions)))


def authenticate(login: str, password: str) -> User | None:
    """The user whose login and password match, or None (the same for every kind of mismatch)."""
    user = find_by_login(login)
    if user is None:
        check_password_hash(_dummy_hash(), password or "")  # same work whether or not the account exists
        return None
    if not check_password_hash(user.password_hash, password or ""):
        return None
    if not user.is_active_account:
        raise NotAllowed(_("该账号已停用，请联系平台管理员。"))
    user.last_login_at = utcnow_naive()
    return user


def change_password(user: User, current: str, new: str) -> None:
    if not check_password_hash(user.password_hash, current or ""):
        raise InvalidInput(_("当前密码不正确。"), field="current_password")
    check_password_strength(new, personal=(crypto.decrypt(user.id_number_encrypted), user.mobile or "",
                                           user.email or ""))
    user.password_hash = hash_password(new)
    user.login_epoch = (user.login_epoch or 0) + 1  # signs out every other session of this user
    # ... and ends their rows, so the profile page lists only the session that changed it.
    sessions.end_sessions(user, keep=user.login_session)
    record_event(user, "user.password_changed", user)


def set_title_level(user: User, level: str | None) -> None:
    """The level of the person's title as they state it (programmes' eligibility reads it); "" clears it."""
    level = (level or "").strip() or None
    if level is not None and level not in {t.value for t in TitleLevel}:
        raise InvalidInput(_("请选择职称级别：初级、中级、副高级或正高级。"), field="title_level")
    if level != user.title_level:
        record_event(user, "user.title_level", user, before=user.title_level, after=level)
        user.title_level = level


def choose_locale(user: User, locale: str) -> None:
    """The interface language the person chose (the header's switcher), kept on the account so that it
    follows them to every device they sign in on."""
    if offered(locale) is None:
        raise InvalidInput(_("请选择界面语言：中文或 English。"), field="locale")
    user.locale = locale


def reset_password(actor: User | None, user: User, new: str) -> None:
    """An operator sets a new password for someone who lost theirs (``flask users reset-password``):
    the same strength rules as the person's own change; every session of the account ends."""
    check_password_strength(new, personal=(crypto.decrypt(user.id_number_encrypted), user.mobile or "",
                                           user.email or ""))
    user.password_hash = hash_password(new)
    user.login_epoch = (user.login_epoch or 0) + 1
    sessions.end_sessions(user)
    record_event(actor, "user.password_reset", user)


def grant_role(actor: User | None, user: User, role: Role, *, organization: Organization | None = None,
               region_code: str | None = None, reason: str | None = None) -> RoleGrant:
    """Grant ``role`` (for an organization or a region where the role acts for one); granting what
    the user already holds changes nothing."""
    role = Role(role)
    if role in ORG_ROLES and organization is None:
        raise InvalidInput(_("授予“%(label)s”角色时必须指定机构。", label=role.label), field="organization")
    if role in REGION_ROLES and region_code is None:
        raise InvalidInput(_("授予“%(label)s”角色时必须指定地区。", label=role.label), field="region")
    if region_code is not None and db.session.get(Region, region_code) is None:
        raise NotFound(_("地区代码 %(region_code)s 不存在。", region_code=region_code), field="region")
    for grant in user.role_grants:
        if grant.role == role and grant.organization_id == getattr(organization, "id", None) \
                and grant.region_code == region_code:
            return grant
    grant = RoleGrant(user=user, role=role, organization=organization, region_code=region_code,
                      granted_by_id=getattr(actor, "id", None))
    db.session.add(grant)
    db.session.flush()
    detail = {"reason": reason} if reason else {}
    record_event(actor, "role.granted", user, role=str(role), organization_id=getattr(organization, "id", None),
                 region_code=region_code, **detail)
    return grant


def get_or_create_organization(name: str, kind: OrgKind, *, credit_code: str | None = None,
                               region_code: str | None = None) -> Organization:
    """An organization by credit code when it has one, else by name and kind."""
    if credit_code:
        try:
            credit_code = normalize_credit_code(credit_code)
        except IdentifierError as exc:
            raise InvalidInput(str(exc), field="credit_code") from None
        query = select(Organization).where(Organization.credit_code == credit_code)
    else:
        query = select(Organization).where(Organization.name == name, Organization.kind == kind,
                                           Organization.credit_code.is_(None))
    org = db.session.scalar(query)
    if org is None:
        org = Organization(name=name, kind=kind, credit_code=credit_code, region_code=region_code)
        db.session.add(org)
        db.session.flush()
    elif org.kind != kind:
        raise Conflict(_("统一社会信用代码 %(credit_code)s 已登记为“%(name)s”（另一类机构），请核对。", credit_code=credit_code, name=org.name),
                       field="credit_code")
    return org


# ---------------------------------------------------------------- admins: the platform keeps one

def enabled_admin_ids() -> set[int]:
    """The enabled accounts holding the admin role."""
    return set(db.session.scalars(
        select(User.id).join(RoleGrant, RoleGrant.user_id == User.id)
        .where(RoleGrant.role == Role.ADMIN, User.is_active_account.is_(True))))


# Any constant: the key of the PostgreSQL advisory lock that orders changes taking admins away.
_ADMINS_LOCK_KEY = 0x67786164  # "gxad"


def _lock_admins() -> None:
    """PostgreSQL: wait for the other changes to admins and accounts to commit (held until this
    transaction ends; taking it again is free)."""
    advisory_lock(_ADMINS_LOCK_KEY)


def _keep_an_admin(user: User, what: str) -> None:
    """Refuse a change that would leave no enabled admin: nobody could then grant a role, enable an
    account or read the audit log from the console.

    Two such changes at once (two admins disabling each other) must not both pass on what each read
    before the other committed. On PostgreSQL they take one transaction-scoped advisory lock first,
    so the second counts the admins after the first has committed; on SQLite a request that writes
    holds the write lock from BEGIN (lms.core.database)."""
    _lock_admins()
    if enabled_admin_ids() <= {user.id}:
        raise Conflict(_("%(what)s后平台将没有可用的管理员账号，无法继续管理。请先为另一位人员授予“平台管理员”角色。",
                         what=what))


def revoke_role(actor: User | None, grant: RoleGrant, *, reason: str = "") -> None:
    """Take back one grant. The last enabled admin keeps the admin role."""
    user = grant.user
    _lock_account(user)
    if grant not in user.role_grants:  # taken back meanwhile by someone else
        raise NotFound(_("没有找到这项角色授权，它可能已被撤销。"))
    if grant.role == Role.ADMIN and len(user.grants_for(Role.ADMIN)) == 1 and user.is_active_account:
        _keep_an_admin(user, _("撤销该角色"))
    record_event(actor, "role.revoked", user, role=str(grant.role), organization_id=grant.organization_id,
                 region_code=grant.region_code, reason=reason or None)
    user.role_grants.remove(grant)
    db.session.flush()


def _lock_account(user: User) -> None:
    """Lock the account's row and read it again, so two admins stopping (or enabling) the same
    account at once make one change and one audit entry: the second sees the first's result.
    The admins' lock comes first, as in :func:`_keep_an_admin`: two admins stopping each other
    would otherwise each hold the other's row and wait for that lock. (SQLite ignores FOR UPDATE;
    a request that writes holds its write lock from BEGIN.)"""
    _lock_admins()
    db.session.refresh(user, with_for_update=True)


def clean_reason(reason: str | None) -> str:
    """A reason an admin gives for an action on an account (kept in the audit log)."""
    reason = (reason or "").strip()
    if not 2 <= len(reason) <= 200:
        raise InvalidInput(_("请写明原因（2–200 字），它将记入审计日志。"), field="reason")
    return reason


def disable_account(actor: User | None, user: User, *, reason: str) -> int:
    """Stop an account: it can no longer sign in, and every session it has ends now. An admin cannot
    disable their own account, nor the last enabled admin. Returns how many sessions ended."""
    reason = clean_reason(reason)
    _lock_account(user)
    if actor is not None and actor.id == user.id:
        raise Conflict(_("不能停用自己的账号：停用后您将无法登录。如需停用，请由另一位管理员操作。"))
    if not user.is_active_account:
        raise Conflict(_("该账号已是停用状态。"))
    if user.has_role(Role.ADMIN):
        _keep_an_admin(user, _("停用该账号"))
    user.is_active_account = False
    user.login_epoch = (user.login_epoch or 0) + 1  # no cookie of theirs signs in again
    ended = sessions.end_sessions(user)
    record_event(actor, "user.disabled", user, reason=reason, sessions=ended)
    db.session.flush()
    return ended


def enable_account(actor: User | None, user: User, *, reason: str) -> None:
    """Let a stopped account sign in again (with its password as it was)."""
    reason = clean_reason(reason)
    _lock_account(user)
    if user.is_active_account:
        raise Conflict(_("该账号未被停用，无需启用。"))
    user.is_active_account = True
    record_event(actor, "user.enabled", user, reason=reason)
    db.session.flush()
