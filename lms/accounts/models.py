from datetime import datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow_naive
from ..extensions import db


class Role(StrEnum):
    LEARNER = "learner"
    PUBLISHER = "publisher"
    REVIEWER = "reviewer"
    UNIT_ADMIN = "unit_admin"
    HR_AUDITOR = "hr_auditor"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.LEARNER: "学员",
    Role.PUBLISHER: "课件发布机构",
    Role.REVIEWER: "课程审核员",
    Role.UNIT_ADMIN: "单位管理员",
    Role.HR_AUDITOR: "人社审核",
    Role.ADMIN: "平台管理员",
}
# Roles that act for an organization, and for a region.
ORG_ROLES = {Role.PUBLISHER, Role.UNIT_ADMIN}
REGION_ROLES = {Role.HR_AUDITOR}


class OrgKind(StrEnum):
    PUBLISHER = "publisher"
    EMPLOYER = "employer"
    HR_BUREAU = "hr_bureau"


class EmploymentStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


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
    is_active_account: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    last_login_at: Mapped[datetime | None]
    # Part of the login session's user id: raising it (a password change) ends every other session.
    login_epoch: Mapped[int] = mapped_column(default=0, server_default="0")

    employer: Mapped[Organization | None] = relationship()
    region: Mapped[Region | None] = relationship()
    role_grants: Mapped[list["RoleGrant"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", foreign_keys="RoleGrant.user_id"
    )

    @property
    def is_active(self) -> bool:  # flask-login: disabled accounts cannot log in
        return self.is_active_account

    def get_id(self) -> str:  # flask-login: what the session and remember-me cookie hold
        return f"{self.id}.{self.login_epoch}"

    def has_role(self, role: Role | str) -> bool:
        return any(g.role == role for g in self.role_grants)

    def grants_for(self, role: Role | str) -> list["RoleGrant"]:
        return [g for g in self.role_grants if g.role == role]

    @property
    def roles(self) -> list[Role]:
        return sorted({Role(g.role) for g in self.role_grants}, key=list(Role).index)



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
