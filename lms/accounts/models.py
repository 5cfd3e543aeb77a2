from datetime import datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow_naive
from ..core.enums import N_, LabelledEnum
from ..extensions import db


class Role(LabelledEnum):
    LEARNER = "learner", N_("学员")
    PUBLISHER = "publisher", N_("课件发布机构")
    REVIEWER = "reviewer", N_("课程审核员")
    UNIT_ADMIN = "unit_admin", N_("单位管理员")
    HR_AUDITOR = "hr_auditor", N_("人社审核")
    ADMIN = "admin", N_("平台管理员")
    # The programme's side (issue 17): the office that runs the Knowledge Update programme, nationally
    # (a grant without a region) or for one region; the administrator of a continuing-education base
    # or training institution (an organization; also the host of that base's classes); an inspector
    # of the "双随机、一公开" inspections (drawn from a pool; never for their own employer).
    PROGRAMME_OFFICE = "programme_office", N_("项目办")
    BASE_ADMIN = "base_admin", N_("基地/机构管理员")
    INSPECTOR = "inspector", N_("检查人员")


# Roles that act for an organization, and for a region; a programme office acts for one region or,
# granted without one, for the whole country.
ORG_ROLES = {Role.PUBLISHER, Role.UNIT_ADMIN, Role.BASE_ADMIN}
REGION_ROLES = {Role.HR_AUDITOR}
OPTIONAL_REGION_ROLES = {Role.PROGRAMME_OFFICE}


class OrgKind(StrEnum):
    PUBLISHER = "publisher"
    EMPLOYER = "employer"
    HR_BUREAU = "hr_bureau"


# The kinds of organization an organization role may be granted for (the first: what a new one is
# created as). A base or training institution publishes courseware or employs learners.
ROLE_ORG_KINDS = {Role.PUBLISHER: (OrgKind.PUBLISHER,), Role.UNIT_ADMIN: (OrgKind.EMPLOYER,),
                  Role.BASE_ADMIN: (OrgKind.EMPLOYER, OrgKind.PUBLISHER)}


class TitleLevel(LabelledEnum):
    """The level of a professional's title (职称级别), lowest first: programmes ask for one at least."""

    JUNIOR = "junior", N_("初级")
    INTERMEDIATE = "intermediate", N_("中级")
    DEPUTY_SENIOR = "deputy_senior", N_("副高级")
    SENIOR = "senior", N_("正高级")

    @property
    def rank(self) -> int:
        return list(TitleLevel).index(self)


class EmploymentStatus(LabelledEnum):
    PENDING = "pending", N_("待单位审核")
    APPROVED = "approved", N_("已通过")
    REJECTED = "rejected", N_("未通过")


class Region(db.Model):
    __tablename__ = "region"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(32))


class Organization(db.Model):
    __tablename__ = "organization"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    credit_code: Mapped[str | None] = mapped_column(String(18), unique=True)
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    # 主管部门: a department of the programme's plans (or "其他"), chosen by the unit's admin; the
    # learners of the unit count toward it on the programme office's dashboard. None: not chosen.
    supervising_department: Mapped[str | None] = mapped_column(String(60))

    region: Mapped[Region | None] = relationship()


class User(UserMixin, db.Model):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    real_name: Mapped[str] = mapped_column(String(50))
    id_number_encrypted: Mapped[str] = mapped_column(String(255))
    id_number_hash: Mapped[str] = mapped_column(String(64), unique=True)
    id_number_masked: Mapped[str] = mapped_column(String(18))
    mobile: Mapped[str | None] = mapped_column(String(11), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    employer_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    employment_status: Mapped[str] = mapped_column(String(16), default=EmploymentStatus.PENDING)
    # The unit's reason when it did not confirm the learner (shown to the learner).
    employment_note: Mapped[str | None] = mapped_column(String(200))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"), index=True)
    title_series: Mapped[str | None] = mapped_column(String(32))
    title_level: Mapped[str | None] = mapped_column(String(16))  # a TitleLevel; None: not stated
    is_active_account: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    last_login_at: Mapped[datetime | None]
    # Part of the login session's user id: raising it (a password change) ends every other session.
    login_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    # When the person proved they receive mail / text messages there (a code sent to it was entered).
    email_verified_at: Mapped[datetime | None]
    mobile_verified_at: Mapped[datetime | None]
    # The interface language chosen with the header's switcher ("zh_Hans_CN", "en"; lms/core/i18n.py),
    # applied on every device the person signs in on. None: the browser's language decides.
    locale: Mapped[str | None] = mapped_column(String(16))

    employer: Mapped[Organization | None] = relationship()
    region: Mapped[Region | None] = relationship()
    role_grants: Mapped[list["RoleGrant"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", foreign_keys="RoleGrant.user_id"
    )

    @property
    def is_active(self) -> bool:  # flask-login: disabled accounts cannot log in
        return self.is_active_account

    # The sign-in this object was loaded through (set by lms.accounts.sessions; not a column).
    login_session = None  # UserSession | None

    def get_id(self) -> str:
        """flask-login: what the session and remember-me cookie hold, "<id>.<login epoch>.<session id>"
        (see lms.accounts.sessions.LoginId): ending the server-side session ends every copy of it."""
        if self.login_session is None:
            raise RuntimeError("sign in through lms.accounts.sessions.start_session() first")
        return f"{self.id}.{self.login_epoch}.{self.login_session.id}"

    # UserMixin compares get_id(), which needs a login session: one row, one object (identity map).
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    def has_role(self, role: Role | str) -> bool:
        return any(g.role == role for g in self.role_grants)

    def grants_for(self, role: Role | str) -> list["RoleGrant"]:
        return [g for g in self.role_grants if g.role == role]

    @property
    def roles(self) -> list[Role]:
        return sorted({Role(g.role) for g in self.role_grants}, key=list(Role).index)



class UserSession(db.Model):
    """One sign-in on one device. Its id is part of the cookie's user id, so logging out (or out
    everywhere, or changing the password) ends it on the server, whatever copies of the cookie exist.
    Every app node reads it from the database."""

    __tablename__ = "user_session"
    # Never reuse the id of a deleted row (SQLite would): a stale cookie must not name a new session.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    # Updated at most every LMS_SESSION_TOUCH_SECONDS by page views (not by heartbeats).
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    # Remembered ("在此设备上保持登录"): LMS_REMEMBER_DAYS (30) after sign-in; else LMS_SESSION_HOURS.
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    remember: Mapped[bool] = mapped_column(default=False, server_default=false())
    # "Firefox 128 · Windows": a summary the user recognizes, not the full User-Agent string.
    device: Mapped[str] = mapped_column(String(80), default="", server_default="")

    def is_live(self, at: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > at


class LoginFailure(db.Model):
    """A login attempt with a wrong password (or naming no account): what lms.accounts.throttle
    counts, per account, per source address and per known browser. Kept 30 days."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_user_id_at", "user_id", "at"),
                      Index("ix_login_failure_source_at", "source", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    # The account the login resolved to; None when it named no account.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    source: Mapped[str | None] = mapped_column(String(45))  # the client address (IPv4 or IPv6)
    # The known-browser id when the attempt came from a browser where this account signed in before.
    device: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow_naive, index=True)


class RoleGrant(db.Model):
    __tablename__ = "role_grant"
    __table_args__ = (UniqueConstraint("user_id", "role", "organization_id", "region_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship(back_populates="role_grants", foreign_keys=[user_id])
    organization: Mapped[Organization | None] = relationship()
    region: Mapped[Region | None] = relationship()


class RecoveryCode(db.Model):
    """A one-time secret sent to a person: a password-reset link or code, or a code that verifies a
    mobile number or e-mail address (lms/accounts/recovery.py). Only a keyed hash of the secret is
    kept; it works once, before ``expires_at``, for its own account, and a code dies after
    ``LMS_RECOVERY_CODE_ATTEMPTS`` wrong tries."""

    __tablename__ = "recovery_code"
    __table_args__ = (Index("ix_recovery_code_user_id_created_at", "user_id", "created_at"),
                      Index("ix_recovery_code_destination_hash_created_at", "destination_hash", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))  # "reset", "verify_email", "verify_mobile"
    channel: Mapped[str] = mapped_column(String(8))  # "mail" (a link, or a code to verify) or "sms" (a code)
    # Where it was sent: a keyed hash (rate limits per address) and a masked form (audit, pages).
    destination_hash: Mapped[str] = mapped_column(String(64))
    destination_masked: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    failed_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    # An operator who sent it to an address they entered (for someone without working mail or phone).
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))


class RecoveryRequest(db.Model):
    """One request for a reset, whether or not it named an account: what the per-address limit
    counts (kept 30 days)."""

    __tablename__ = "recovery_request"
    __table_args__ = (Index("ix_recovery_request_source_at", "source", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str | None] = mapped_column(String(45))  # the client address
    at: Mapped[datetime] = mapped_column(default=utcnow_naive, index=True)

