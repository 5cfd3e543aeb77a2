"""Certificates (学时证明) and the per-issuer, per-year number sequence."""

from datetime import date, datetime
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import ForeignKey, Index, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..catalog.models import Category
from ..core.clock import utcnow_naive
from ..extensions import db


class CertificateKind:
    COURSE = "course"  # one completed course
    ANNUAL = "annual"  # a credit year's summary
    PROGRAMME = "programme"  # a seminar or class completed (its share of sessions attended; lms.classes)


class CertificateStatus:
    VALID = "valid"
    REVOKED = "revoked"


class Certificate(db.Model):
    """What the PDF says is kept here as issued, so verification shows exactly what was printed."""

    __tablename__ = "certificate"
    # One course certificate per learner and course: issued by a job after the completion commits, and
    # by the sweep for lost jobs (lms.certificates.tasks), so two issuers may meet.
    __table_args__ = (Index("uq_certificate_course", "user_id", "course_code", unique=True,
                            postgresql_where=text("kind = 'course'"), sqlite_where=text("kind = 'course'")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    # Course certificates: the ledger entry they certify (moves forward on reissue after a correction).
    # Programme certificates: none (one entry per attended session); course_code holds the programme's code.
    credit_record_id: Mapped[int | None] = mapped_column(ForeignKey("credit_record.id"), index=True)
    course_code: Mapped[str | None] = mapped_column(String(32))
    credit_year: Mapped[int]
    title: Mapped[str] = mapped_column(String(160))
    category: Mapped[str | None] = mapped_column(String(16))
    hours: Mapped[Decimal] = mapped_column(Numeric(5, 1))
    exam_score: Mapped[int | None]
    completed_on: Mapped[date | None]
    # Annual summaries: the year's hours against the rule's yearly requirement, as printed (met or not).
    target_note: Mapped[str | None] = mapped_column(String(200))
    holder_name_masked: Mapped[str] = mapped_column(String(50))
    holder_id_masked: Mapped[str] = mapped_column(String(18))
    issuer_name: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), default=CertificateStatus.VALID)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    version: Mapped[int] = mapped_column(default=1)
    pdf_path: Mapped[str] = mapped_column(String(255))  # relative to LMS_MEDIA_ROOT
    pdf_sha256: Mapped[str] = mapped_column(String(64), index=True)
    credential_jwt: Mapped[str] = mapped_column(Text)
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    revoke_reason: Mapped[str | None] = mapped_column(Text)

    user = relationship("User", foreign_keys=[user_id])
    credit_record = relationship("CreditRecord")

    @property
    def is_valid(self) -> bool:
        return self.status == CertificateStatus.VALID

    @property
    def kind_label(self) -> str:
        if self.kind == CertificateKind.PROGRAMME:
            return _("研修培训结业证明")
        return _("年度学时汇总证明") if self.kind == CertificateKind.ANNUAL else _("课程学时证明")

    @property
    def category_label(self) -> str:
        if not self.category:
            return _("全部类别")
        try:
            return Category(self.category).label
        except ValueError:
            return self.category

    @property
    def category_source_label(self) -> str:
        """A course certificate's category in the certificate's fixed wording (the PDF, signed credentials)."""
        try:
            return Category(self.category).source_label
        except ValueError:
            return self.category or ""


class CertificateSequence(db.Model):
    """The last sequence number used per issuer and year (locked while a number is taken)."""

    __tablename__ = "certificate_sequence"

    issuer: Mapped[str] = mapped_column(String(6), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(default=0)
