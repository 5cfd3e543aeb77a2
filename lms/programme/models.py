"""A yearly plan of the Knowledge Update programme: training targets per department × domain, in
万人 (10,000 persons), for the whole country or for one region; and the continuing-education
bases with their evaluations and history."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import Organization, Region, User
from ..core.clock import utcnow_naive
from ..core.enums import N_, LabelledEnum
from ..extensions import db

# ``Plan.scope`` of the national plan; a regional plan's scope is its region code.
NATIONAL = "national"


class Plan(db.Model):
    """One year's plan of one scope. Importing it again replaces its departments and targets."""

    __tablename__ = "plan"
    __table_args__ = (UniqueConstraint("year", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int]
    # "national", or the region code (also in region_code, for the foreign key): NULL cannot be unique.
    scope: Mapped[str] = mapped_column(String(8))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"))
    source_name: Mapped[str] = mapped_column(String(200), default="")
    source_sha256: Mapped[str] = mapped_column(String(64), default="")
    imported_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    region: Mapped[Region | None] = relationship()
    departments: Mapped[list["PlanDepartment"]] = relationship(
        back_populates="plan", order_by="PlanDepartment.position", cascade="all, delete-orphan")

    @property
    def is_national(self) -> bool:
        return self.scope == NATIONAL


class PlanDepartment(db.Model):
    """A row of the plan: a department (部门) with its targets; ``subtotal`` as the source states it."""

    __tablename__ = "plan_department"
    __table_args__ = (UniqueConstraint("plan_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(60))
    subtotal: Mapped[Decimal] = mapped_column(Numeric(8, 2))

    plan: Mapped[Plan] = relationship(back_populates="departments")
    targets: Mapped[list["PlanTarget"]] = relationship(back_populates="department", cascade="all, delete-orphan")


class PlanTarget(db.Model):
    """One cell with a target (a blank cell of the source has no row): 万人 to train in ``domain``."""

    __tablename__ = "plan_target"
    __table_args__ = (UniqueConstraint("department_id", "domain"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("plan_department.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(String(16))  # a lms.catalog.models.Domain value
    target: Mapped[Decimal] = mapped_column(Numeric(8, 2))

    department: Mapped[PlanDepartment] = relationship(back_populates="targets")


# ---------------------------------------------------------------- continuing-education bases (继续教育基地)

class BaseLevel(LabelledEnum):
    NATIONAL = "national", N_("国家级")
    PROVINCIAL = "provincial", N_("省级")


class BaseStatus(LabelledEnum):
    RECOGNISED = "recognised", N_("已认定")
    UNDER_EVALUATION = "under_evaluation", N_("评估中")
    WITHDRAWN = "withdrawn", N_("已撤销")


class EvaluationResult(LabelledEnum):
    EXCELLENT = "excellent", N_("优秀")
    QUALIFIED = "qualified", N_("合格")
    BASIC = "basic", N_("基本合格")
    UNQUALIFIED = "unqualified", N_("不合格")


class BaseEventKind(LabelledEnum):
    RECOGNISED = "recognised", N_("认定")
    STATUS_CHANGED = "status_changed", N_("状态调整")
    EVALUATED = "evaluated", N_("年度评估")
    WITHDRAWN = "withdrawn", N_("撤销认定")


class ContinuingEducationBase(db.Model):
    """A national or provincial continuing-education base (专业技术人员继续教育基地): an organization
    recognised by a document (认定文号) on a date. A provincial base belongs to the region that
    recognised it (its regional programme office manages it); a national base may name its region."""

    __tablename__ = "ce_base"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), unique=True)
    level: Mapped[str] = mapped_column(String(16))  # BaseLevel
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"), index=True)
    recognised_on: Mapped[date]
    document_number: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20), default=BaseStatus.RECOGNISED)  # BaseStatus
    withdrawn_on: Mapped[date | None]
    withdrawal_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    organization: Mapped[Organization] = relationship()
    region: Mapped[Region | None] = relationship()
    evaluations: Mapped[list["BaseEvaluation"]] = relationship(
        back_populates="base", order_by="(BaseEvaluation.year.desc(), BaseEvaluation.id.desc())")
    events: Mapped[list["BaseEvent"]] = relationship(
        back_populates="base", order_by="(BaseEvent.occurred_on.desc(), BaseEvent.id.desc())")


class BaseEvaluation(db.Model):
    """An annual evaluation (年度考核评估) of a base: score 0–100, result, evaluator, date, attachments."""

    __tablename__ = "ce_base_evaluation"
    __table_args__ = (UniqueConstraint("base_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    base_id: Mapped[int] = mapped_column(ForeignKey("ce_base.id"), index=True)
    year: Mapped[int]
    score: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    result: Mapped[str] = mapped_column(String(16))  # EvaluationResult
    evaluator: Mapped[str] = mapped_column(String(100))
    evaluated_on: Mapped[date]
    note: Mapped[str] = mapped_column(String(1000), default="")
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    base: Mapped[ContinuingEducationBase] = relationship(back_populates="evaluations")
    attachments: Mapped[list["BaseAttachment"]] = relationship(back_populates="evaluation",
                                                               order_by="BaseAttachment.id")


class BaseAttachment(db.Model):
    """A file of an evaluation (PDF, JPEG or PNG, checked by its content), stored under the media
    root at ``path``; served only as a download to those who may see the base's evaluations."""

    __tablename__ = "ce_base_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("ce_base_evaluation.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(200))

    evaluation: Mapped[BaseEvaluation] = relationship(back_populates="attachments")


class BaseEvent(db.Model):
    """One dated line of a base's public history (动态管理): recognition, a status change, an
    evaluation's result, the withdrawal and its reason. Who did it is in the audit log."""

    __tablename__ = "ce_base_event"
    # A base is withdrawn once (the check under the base's lock, and this behind it).
    __table_args__ = (Index("uq_ce_base_event_withdrawn", "base_id", unique=True,
                            postgresql_where=text("kind = 'withdrawn'"), sqlite_where=text("kind = 'withdrawn'")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    base_id: Mapped[int] = mapped_column(ForeignKey("ce_base.id"), index=True)
    occurred_on: Mapped[date]
    kind: Mapped[str] = mapped_column(String(16))  # BaseEventKind
    status: Mapped[str] = mapped_column(String(20))  # the base's status after the event
    result: Mapped[str | None] = mapped_column(String(16))  # an evaluation's EvaluationResult
    year: Mapped[int | None]  # an evaluation's year
    note: Mapped[str] = mapped_column(String(500), default="")
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow_naive)

    base: Mapped[ContinuingEducationBase] = relationship(back_populates="events")


# ---------------------------------------------------------------- institution directories (培训机构、评价机构目录)

class InstitutionKind(LabelledEnum):
    TRAINING = "training", N_("培训机构")
    EVALUATION = "evaluation", N_("评价机构")

    @property
    def letter(self) -> str:
        """The code's first character (lms/programme/institution_codes.py)."""
        return "T" if self is InstitutionKind.TRAINING else "E"


class InstitutionStatus(LabelledEnum):
    ACTIVE = "active", N_("在册")
    SUSPENDED = "suspended", N_("已暂停")


class DigitalField(LabelledEnum):
    """Fields of work of the digital-technology engineer programme (数字技术工程师培育项目)."""

    INTELLIGENT_MANUFACTURING = "intelligent_manufacturing", N_("智能制造")
    BIG_DATA = "big_data", N_("大数据")
    BLOCKCHAIN = "blockchain", N_("区块链")
    ARTIFICIAL_INTELLIGENCE = "ai", N_("人工智能")
    CLOUD_COMPUTING = "cloud", N_("云计算")
    INTERNET_OF_THINGS = "iot", N_("物联网")
    INDUSTRIAL_INTERNET = "industrial_internet", N_("工业互联网")
    VIRTUAL_REALITY = "vr", N_("虚拟现实")
    INTEGRATED_CIRCUITS = "ic", N_("集成电路")
    DATA_SECURITY = "data_security", N_("数据安全")


class InstitutionChangeKind(LabelledEnum):
    LISTED = "listed", N_("列入目录")
    SUSPENDED = "suspended", N_("暂停")
    RESTORED = "restored", N_("恢复")


class Institution(db.Model):
    """A training or evaluation institution in the programme's public directory, with its assigned code."""

    __tablename__ = "programme_institution"
    # One entry per institution of a kind, by name and by credit code (checked under the directory's
    # lock when listing; these indexes back the check). Several entries without a credit code may exist.
    __table_args__ = (Index("uq_programme_institution_kind_name", "kind", "name", unique=True),
                      Index("uq_programme_institution_kind_credit_code", "kind", "credit_code", unique=True))

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # InstitutionKind
    name: Mapped[str] = mapped_column(String(120), index=True)
    credit_code: Mapped[str | None] = mapped_column(String(18))
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    # DigitalField values, comma-separated with a comma at each end (",big_data,ai,"): one LIKE finds a field.
    fields: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default=InstitutionStatus.ACTIVE)  # InstitutionStatus
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)

    region: Mapped[Region] = relationship()
    changes: Mapped[list["InstitutionChange"]] = relationship(
        back_populates="institution", order_by="(InstitutionChange.occurred_at.desc(), InstitutionChange.id.desc())")

    @property
    def field_list(self) -> list[DigitalField]:
        return [DigitalField(v) for v in self.fields.strip(",").split(",") if v]


class InstitutionChange(db.Model):
    """A dated change of an institution's entry (动态调整), shown in its public history; who made it
    is in the audit log."""

    __tablename__ = "programme_institution_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("programme_institution.id"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    kind: Mapped[str] = mapped_column(String(16))  # InstitutionChangeKind
    status: Mapped[str] = mapped_column(String(16))  # the entry's status after the change
    reason: Mapped[str] = mapped_column(String(500), default="")

    institution: Mapped[Institution] = relationship(back_populates="changes")


# ---------------------------------------------------------------- random inspections (双随机、一公开)

class InspectionPopulation(LabelledEnum):
    BASES = "bases", N_("继续教育基地")
    INSTITUTIONS = "institutions", N_("培训和评价机构")
    COURSES = "courses", N_("课程")
    CREDIT_RECORDS = "credit_records", N_("学时记录")


class InspectionStatus(LabelledEnum):
    DRAFT = "draft", N_("草稿")
    FROZEN = "frozen", N_("已冻结（名单与承诺值已公开）")
    DRAWN = "drawn", N_("已抽取")
    CLOSED = "closed", N_("已结束（结果已公开）")
    CANCELLED = "cancelled", N_("已撤销")


class FindingResult(LabelledEnum):
    COMPLIANT = "compliant", N_("未发现问题")
    RECTIFY = "rectify", N_("责令整改")
    VIOLATION = "violation", N_("发现违规")
    NOT_FOUND = "not_found", N_("无法核查")
    NOT_INSPECTED = "not_inspected", N_("未检查：检查人员已离任")


class InspectionPlan(db.Model):
    """A "双随机、一公开" inspection plan of a programme office (national, or one region: ``scope``
    as in :class:`Plan`): a population of one kind for a year, how many targets to draw and how many
    inspectors per target. Frozen: the ordered population, the pool and the seed's commitment are
    fixed and public; drawn: the seed is revealed and the draw stored; closed: the findings are public.
    The seed is kept encrypted (lms/core/keys.py, purpose ``inspection-seed``) until it is revealed."""

    __tablename__ = "inspection_plan"
    # One open (frozen or drawn) plan per scope, population and year: the check under the freeze's
    # lock, and this behind it.
    __table_args__ = (Index("uq_inspection_plan_open", "scope", "population", "year", unique=True,
                            postgresql_where=text("status IN ('frozen', 'drawn')"),
                            sqlite_where=text("status IN ('frozen', 'drawn')")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    scope: Mapped[str] = mapped_column(String(8))  # NATIONAL or a region code
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"), index=True)
    population: Mapped[str] = mapped_column(String(16))  # InspectionPopulation
    year: Mapped[int]
    target_count: Mapped[int]
    inspectors_per_target: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default=InspectionStatus.DRAFT)  # InspectionStatus
    commitment: Mapped[str | None] = mapped_column(String(64))
    seed_encrypted: Mapped[str | None] = mapped_column(String(255))
    seed: Mapped[str | None] = mapped_column(String(64))  # revealed
    # The published document (JSON, scripts/verify_draw.py's format), written once at freeze and
    # again at the draw; served as is. ``population_sha256``: SHA-256 of its population and pool
    # (lms/programme/inspections.py ``population_digest``), published with the commitment.
    document: Mapped[str | None] = mapped_column(Text, deferred=True)
    population_sha256: Mapped[str | None] = mapped_column(String(64))
    reveal_after: Mapped[datetime | None]  # the seed is not revealed before (published at freeze)
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    frozen_at: Mapped[datetime | None]
    drawn_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # Cancelled by its office before it closed (any earlier step), with the reason: published with
    # the plan when it was frozen (a commitment once public stays public, and so does its withdrawal).
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(500))

    region: Mapped[Region | None] = relationship()
    entries: Mapped[list["InspectionEntry"]] = relationship(
        back_populates="plan", order_by="InspectionEntry.position", cascade="all, delete-orphan")
    pool: Mapped[list["InspectionPoolMember"]] = relationship(
        back_populates="plan", order_by="InspectionPoolMember.position", cascade="all, delete-orphan")
    assignments: Mapped[list["InspectionAssignment"]] = relationship(
        back_populates="plan", order_by="(InspectionAssignment.draw_order, InspectionAssignment.id)",
        cascade="all, delete-orphan")


class InspectionEntry(db.Model):
    """One member of a frozen population, at its published position. ``public_id`` is what is
    published (for credit records a keyed hash, never the record); ``ref_id`` points to the row
    (a base, an institution, a course or a credit record, by ``plan.population``); ``excluded``
    lists the pool positions barred from it (their own organization), as published."""

    __tablename__ = "inspection_entry"
    # One draw per plan: a second would number its targets from 0 again.
    __table_args__ = (UniqueConstraint("plan_id", "position"), UniqueConstraint("plan_id", "public_id"),
                      Index("uq_inspection_entry_drawn_order", "plan_id", "drawn_order", unique=True))

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("inspection_plan.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    public_id: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(200))  # what the public list shows (empty for credit records)
    ref_id: Mapped[int]
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    excluded: Mapped[list] = mapped_column(JSON, default=list)
    # Its place in the draw (0 first), when drawn: a drawn target without an eligible inspector has
    # no assignment, and still shows in the published draw.
    drawn_order: Mapped[int | None]

    plan: Mapped[InspectionPlan] = relationship(back_populates="entries")


class InspectionPoolMember(db.Model):
    """An inspector of the pool frozen with the plan, at its published position."""

    __tablename__ = "inspection_pool_member"
    __table_args__ = (UniqueConstraint("plan_id", "position"), UniqueConstraint("plan_id", "user_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("inspection_plan.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))

    plan: Mapped[InspectionPlan] = relationship(back_populates="pool")
    user: Mapped[User] = relationship()


class InspectionAssignment(db.Model):
    """A drawn target with one drawn inspector, and that inspector's finding."""

    __tablename__ = "inspection_assignment"
    __table_args__ = (UniqueConstraint("entry_id", "inspector_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("inspection_plan.id", ondelete="CASCADE"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("inspection_entry.id", ondelete="CASCADE"), index=True)
    draw_order: Mapped[int]
    inspector_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    result: Mapped[str | None] = mapped_column(String(16))  # FindingResult
    notes: Mapped[str] = mapped_column(String(2000), default="")
    recorded_at: Mapped[datetime | None]

    plan: Mapped[InspectionPlan] = relationship(back_populates="assignments")
    entry: Mapped[InspectionEntry] = relationship()
    inspector: Mapped[User] = relationship()
