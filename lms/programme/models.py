"""A yearly plan of the Knowledge Update programme: training targets per department × domain, in
万人 (10,000 persons), for the whole country or for one region."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import Region
from ..core.clock import utcnow_naive
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
