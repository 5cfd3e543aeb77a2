"""A host's programme (an advanced seminar or a face-to-face class), its sessions, the learners'
applications and the attendance that earns hours."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import TitleLevel
from ..catalog.models import Category
from ..core.clock import utcnow_naive
from ..core.enums import N_, LabelledEnum
from ..credits.models import CreditOrigin
from ..extensions import db


class ProgrammeKind(LabelledEnum):
    """What the programme is; the ledger's origin of the hours it earns."""

    SEMINAR = CreditOrigin.SEMINAR.value, N_("高级研修")
    CLASS = CreditOrigin.CLASS.value, N_("面授培训")


class ProgrammeStatus(LabelledEnum):
    OPEN = "open", N_("报名中")
    SELECTED = "selected", N_("已确定学员")


class ApplicationStatus(LabelledEnum):
    APPLIED = "applied", N_("待遴选")
    ACCEPTED = "accepted", N_("已录取")
    DECLINED = "declined", N_("未录取")


class PriorityGroup(LabelledEnum):
    """The plan's priority groups (seed 二): flags the applicant states on the application."""

    OLD_BASE = "old_base", N_("革命老区")
    BORDER = "border", N_("边疆地区")
    ETHNIC = "ethnic", N_("民族地区")
    GRASSROOTS = "grassroots", N_("基层一线")


class AttendanceMethod(LabelledEnum):
    SCAN = "scan", N_("扫码签到")
    MANUAL = "manual", N_("主办方补录")


class ClassProgramme(db.Model):
    """One programme of a host organization (a base or institution: its BASE_ADMIN grants host it)."""

    __tablename__ = "class_programme"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(120))
    domain: Mapped[str] = mapped_column(String(60))
    place: Mapped[str] = mapped_column(String(120))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    category: Mapped[str] = mapped_column(String(16))
    quota: Mapped[int]
    # The lowest title level an applicant must hold (None: anyone may apply).
    min_title_level: Mapped[str | None] = mapped_column(String(16))
    # The share of the sessions (in percent) a learner attends to complete the programme (结业).
    required_percent: Mapped[int] = mapped_column(default=80)
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=ProgrammeStatus.OPEN, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)

    organization = relationship("Organization")
    sessions = relationship("ClassSession", order_by="(ClassSession.starts_at, ClassSession.id)",
                            back_populates="programme")
    applications = relationship("ClassApplication", order_by="ClassApplication.id", back_populates="programme")

    @property
    def kind_label(self) -> str:
        return ProgrammeKind(self.kind).label

    @property
    def status_label(self) -> str:
        return ProgrammeStatus(self.status).label

    @property
    def category_label(self) -> str:
        return Category(self.category).label

    @property
    def min_title_label(self) -> str | None:
        return TitleLevel(self.min_title_level).label if self.min_title_level else None

    @property
    def total_hours(self) -> Decimal:
        return sum((s.hours for s in self.sessions), Decimal(0))


class ClassSession(db.Model):
    """A session with its time window (stored naive UTC): attendance counts only inside it."""

    __tablename__ = "class_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("class_programme.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    hours: Mapped[Decimal] = mapped_column(Numeric(4, 1))

    programme = relationship("ClassProgramme", back_populates="sessions")
    attendances = relationship("ClassAttendance", back_populates="session")


class ClassApplication(db.Model):
    __tablename__ = "class_application"
    __table_args__ = (UniqueConstraint("programme_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("class_programme.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    statement: Mapped[str] = mapped_column(Text)
    # The priority groups the applicant states (PriorityGroup values, comma-separated, in declaration order).
    priority_groups: Mapped[str] = mapped_column(String(80), default="")
    # The title level the applicant held when applying (what eligibility was checked against).
    title_level: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=ApplicationStatus.APPLIED, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    programme = relationship("ClassProgramme", back_populates="applications")
    user = relationship("User", foreign_keys=[user_id])

    @property
    def groups(self) -> list[PriorityGroup]:
        return [PriorityGroup(v) for v in (self.priority_groups or "").split(",") if v]

    @property
    def status_label(self) -> str:
        return ApplicationStatus(self.status).label

    @property
    def title_level_label(self) -> str | None:
        return TitleLevel(self.title_level).label if self.title_level else None


class ClassAttendance(db.Model):
    """One learner's attendance at one session (at most one: the unique constraint), and the ledger
    entry its hours went to."""

    __tablename__ = "class_attendance"
    __table_args__ = (UniqueConstraint("session_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("class_session.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    method: Mapped[str] = mapped_column(String(16))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(Text)
    credit_record_id: Mapped[int | None] = mapped_column(ForeignKey("credit_record.id"))

    session = relationship("ClassSession", back_populates="attendances")
    user = relationship("User", foreign_keys=[user_id])
    credit_record = relationship("CreditRecord")  # None where the programme is credited once, at 结业

    @property
    def method_label(self) -> str:
        return AttendanceMethod(self.method).label
