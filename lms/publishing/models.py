from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow_naive
from ..core.enums import N_, LabelledEnum
from ..extensions import db


class ReviewEvent(db.Model):
    """One transition of a course version's status: who, when, from what to what, and why."""

    __tablename__ = "review_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow_naive)

    actor = relationship("User")


class Contribution(LabelledEnum):
    CREATED = "created", N_("创建")  # made the version: a new course, a new version, a package imported on the web
    EDITED = "edited", N_("编辑")  # changed its fields, outline, lessons, questions or cover
    SUBMITTED = "submitted", N_("提交审核")  # sent it for review


class CourseEditor(db.Model):
    """A person who took part in making one course version, and how (one row per kind).

    Only status changes are review events; this is the record of authorship that separation of
    duties needs: nobody listed here may approve the version (lms.core.duties)."""

    __tablename__ = "course_editor"
    __table_args__ = (UniqueConstraint("course_id", "user_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    first_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    last_at: Mapped[datetime] = mapped_column(default=utcnow_naive)

    user = relationship("User")
