"""A learner's claim of hours earned elsewhere (学时登记), its evidence files and its review steps."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..catalog.models import Category
from ..core.clock import utcnow_naive
from ..core.enums import N_, LabelledEnum
from ..credits.models import ClaimKind
from ..extensions import db


class ClaimStatus(LabelledEnum):
    UNIT_REVIEW = "unit_review", N_("待单位审核")
    REGION_REVIEW = "region_review", N_("待人社审核")
    APPROVED = "approved", N_("已认定")
    REJECTED = "rejected", N_("未通过")


class StepAction(LabelledEnum):
    SUBMITTED = "submitted", N_("提交")
    APPROVED = "approved", N_("通过")
    REDUCED = "reduced", N_("核减后通过")
    REJECTED = "rejected", N_("不予认定")
    CREDITED = "credited", N_("记入学时")


class HourClaim(db.Model):
    """One claim. ``organization_id`` and ``region_code`` are the learner's confirmed unit (None: no
    confirmed unit, the region reviews first) and region when it was submitted: they say who reviews it."""

    __tablename__ = "hour_claim"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(120))
    activity_date: Mapped[date]
    hours_claimed: Mapped[Decimal] = mapped_column(Numeric(4, 1))
    category: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"), index=True)
    # Hours the reviewers accept so far (the unit's decision, then the region's), and what the ledger got.
    hours_approved: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    hours_credited: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    credit_record_id: Mapped[int | None] = mapped_column(ForeignKey("credit_record.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    decided_at: Mapped[datetime | None]

    user = relationship("User", foreign_keys=[user_id])
    organization = relationship("Organization")
    region = relationship("Region")
    evidence = relationship("ClaimEvidence", order_by="ClaimEvidence.id", back_populates="claim")
    steps = relationship("ClaimStep", order_by="ClaimStep.id", back_populates="claim")

    @property
    def kind_label(self) -> str:
        try:
            return ClaimKind(self.kind).label
        except ValueError:
            return self.kind

    @property
    def status_label(self) -> str:
        return ClaimStatus(self.status).label

    @property
    def category_label(self) -> str:
        return Category(self.category).label

    @property
    def open(self) -> bool:
        return self.status in (ClaimStatus.UNIT_REVIEW, ClaimStatus.REGION_REVIEW)


class ClaimEvidence(db.Model):
    """An evidence file, stored under the media root (``path``); checked by its content when uploaded."""

    __tablename__ = "hour_claim_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("hour_claim.id"), index=True)
    original_name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)

    claim = relationship("HourClaim", back_populates="evidence")


class ClaimStep(db.Model):
    """What happened to a claim, shown to the learner: who (their role, not always their name), the
    hours after the step and the reason."""

    __tablename__ = "hour_claim_step"

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("hour_claim.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    stage: Mapped[str] = mapped_column(String(16))  # learner, unit, region, ledger
    action: Mapped[str] = mapped_column(String(16))
    hours: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    reason: Mapped[str | None] = mapped_column(Text)

    claim = relationship("HourClaim", back_populates="steps")
    actor = relationship("User")

    @property
    def action_label(self) -> str:
        return StepAction(self.action).label
