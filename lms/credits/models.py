from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow_naive
from ..extensions import db


class RuleSet(db.Model):
    """The credit rules of a jurisdiction. ``region_code`` NULL is the national default."""

    __tablename__ = "rule_set"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"), unique=True)
    annual_hours: Mapped[Decimal] = mapped_column(Numeric(5, 1), default=Decimal("90"))
    public_min_hours: Mapped[Decimal] = mapped_column(Numeric(5, 1), default=Decimal("30"))
    minutes_per_hour: Mapped[int] = mapped_column(default=45)
    rounding_step: Mapped[Decimal] = mapped_column(Numeric(3, 2), default=Decimal("0.5"))
    daily_cap_hours: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    # The credit year closes on this day; a day before 31 December falls in the next calendar
    # year (e.g. 30 April: credit year 2025 runs to 30 April 2026).
    cycle_end_month: Mapped[int] = mapped_column(default=12)
    cycle_end_day: Mapped[int] = mapped_column(default=31)
    coverage_threshold: Mapped[Decimal] = mapped_column(Numeric(3, 2), default=Decimal("0.95"))
    allowed_rates: Mapped[str] = mapped_column(String(64), default="1,1.25,1.5")
    attention_check_min_seconds: Mapped[int] = mapped_column(default=300)
    attention_check_max_seconds: Mapped[int] = mapped_column(default=900)
    attention_window_seconds: Mapped[int] = mapped_column(default=60)
    quiz_pass_score: Mapped[int] = mapped_column(default=60)
    quiz_attempts: Mapped[int] = mapped_column(default=3)
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)

    @property
    def rates(self) -> list[float]:
        return sorted({float(r) for r in self.allowed_rates.split(",") if r.strip()})

    @property
    def fastest_rate(self) -> float:
        return max(self.rates or [1.0])


class CreditRecord(db.Model):
    """One row per learner × course completion. Append-only: a correction voids a row (who, why)
    and adds a new one; rows are never edited otherwise or deleted."""

    __tablename__ = "credit_record"
    __table_args__ = (Index("ix_credit_record_user_year", "user_id", "credit_year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id"), index=True)
    course_code: Mapped[str] = mapped_column(String(32))
    course_version: Mapped[int]
    course_title: Mapped[str] = mapped_column(String(120))
    hours: Mapped[Decimal] = mapped_column(Numeric(4, 1))
    category: Mapped[str] = mapped_column(String(16))
    credit_year: Mapped[int]
    completed_at: Mapped[datetime]
    exam_score: Mapped[int | None]
    rule_set_id: Mapped[int | None] = mapped_column(ForeignKey("rule_set.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    voided_at: Mapped[datetime | None]
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    void_reason: Mapped[str | None] = mapped_column(Text)

    course = relationship("Course")
