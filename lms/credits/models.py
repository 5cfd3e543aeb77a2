"""Credit rules (RuleSet) and the append-only ledger of earned credit hours (CreditRecord)."""
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, event, false, text
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from ..catalog.models import Category
from ..core.clock import utcnow_naive
from ..core.enums import N_, LabelledEnum
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
    # Tiered hours by lesson length, "minutes:hours" pairs, e.g. "20:0.5,40:1": a video lesson of at
    # least 20 minutes counts 0.5 学时, of at least 40 minutes 1 学时. Empty: the course's declared
    # hours (set by its publisher at minutes_per_hour minutes per 学时).
    hour_tiers: Mapped[str | None] = mapped_column(String(120))
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
    # Externally earned hours (学时登记): yearly caps per claim kind, "kind:hours" pairs such as
    # "paper:20,conference:30" (a kind not named has no cap of its own); a cap on all claimed hours of a
    # year; whether an HR auditor of the region confirms after the unit admin.
    claim_caps: Mapped[str | None] = mapped_column(String(200))
    claim_year_cap_hours: Mapped[Decimal | None] = mapped_column(Numeric(5, 1))
    claims_need_region: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Seminars and face-to-face classes (lms/classes): credited per attended session ("session"), or
    # once per programme when the learner reaches its required share of sessions ("programme", 结业计学时).
    class_credit: Mapped[str] = mapped_column(String(16), default="session", server_default="session")
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)

    region = relationship("Region")

    @property
    def rates(self) -> list[float]:
        return sorted({float(r) for r in self.allowed_rates.split(",") if r.strip()})

    @property
    def fastest_rate(self) -> float:
        return max(self.rates or [1.0])

    @property
    def tiers(self) -> list[tuple[int, Decimal]]:
        """(minimum minutes, hours) pairs, longest first."""
        pairs = []
        for item in (self.hour_tiers or "").split(","):
            if item.strip():
                minutes, hours = item.split(":")
                pairs.append((int(minutes), Decimal(hours.strip())))
        return sorted(pairs, reverse=True)

    @property
    def claim_cap_by_kind(self) -> dict[str, Decimal]:
        """The yearly cap of each claim kind that has one."""
        caps = {}
        for item in (self.claim_caps or "").split(","):
            if item.strip():
                kind, hours = item.split(":")
                caps[kind.strip()] = Decimal(hours.strip())
        return caps

    @property
    def closes_next_year(self) -> bool:
        return (self.cycle_end_month, self.cycle_end_day) != (12, 31)


class EntryKind(LabelledEnum):
    COMPLETION = "completion", N_("课程完成")  # a course completed
    CORRECTION = "correction", N_("更正")  # replaces (voids) an earlier entry with corrected values
    REVOCATION = "revocation", N_("撤销")  # voids an earlier entry; counts nothing itself


class CreditOrigin(LabelledEnum):
    """Where an entry's hours came from. Entries of every origin but ONLINE_COURSE may have no local
    course: their activity's name is in ``course_title`` and ``source_type``/``source_id`` say what
    produced them (an external claim, a transferred credential...)."""

    ONLINE_COURSE = "online_course", N_("在线课程")
    SEMINAR = "seminar", N_("高级研修")
    CLASS = "class", N_("面授培训")
    EXTERNAL_CLAIM = "external_claim", N_("学时登记")
    TRANSFERRED = "transferred", N_("外平台转入")


class ClaimKind(LabelledEnum):
    """What externally claimed hours were earned at (the ``activity_kind`` of an external-claim entry);
    rule sets cap each kind per credit year (``RuleSet.claim_caps``)."""

    CONFERENCE = "conference", N_("学术会议")
    PAPER = "paper", N_("发表论文")
    TRAINING = "training", N_("外单位培训")
    OTHER = "other", N_("其他")


_CLAIM_ENTRY = text("origin = 'external_claim' AND entry_kind = 'completion'")
# Where a rule set credits classes per programme: one entry per learner and programme (source
# "class_programme", id "<programme>:<learner>").
_PROGRAMME_ENTRY = text("source_type = 'class_programme' AND entry_kind = 'completion'")


class ClassCredit(LabelledEnum):
    """How a rule set credits seminars and face-to-face classes (``RuleSet.class_credit``)."""

    SESSION = "session", N_("按场次计入（每签到一场记入该场学时）")
    PROGRAMME = "programme", N_("按项目结业计入（达到出勤比例后一次记入项目学时）")


_ATTENDANCE_ENTRY = text("source_type = 'class_attendance' AND entry_kind = 'completion'")
_TRANSFER_ENTRY = text("origin = 'transferred' AND entry_kind = 'completion'")


class CreditRecord(db.Model):
    """The ledger: one row per learner × earned activity (a course completion, an approved claim...). Append-only: a correction or revocation is a
    new row that names the row it voids (``voids_id``), who entered it and why. A row counts while no
    other row voids it and it is not itself a revocation. Rows are never updated or deleted (enforced
    in :func:`_refuse_changes`)."""

    __tablename__ = "credit_record"
    __table_args__ = (Index("ix_credit_record_user_year", "user_id", "credit_year"),
                      Index("ix_credit_record_source", "source_type", "source_id"),
                      # The certificate sweep reads the last days' entries (lms/certificates/tasks.py).
                      Index("ix_credit_record_created", "created_at"),
                      # One claim, one ledger entry: a claim's hours enter the ledger once (its corrections
                      # and revocations keep its source but are other kinds of entry).
                      Index("uq_credit_record_claim_entry", "source_type", "source_id", unique=True,
                            postgresql_where=_CLAIM_ENTRY, sqlite_where=_CLAIM_ENTRY),
                      Index("uq_credit_record_programme_entry", "source_type", "source_id", unique=True,
                            postgresql_where=_PROGRAMME_ENTRY, sqlite_where=_PROGRAMME_ENTRY),
                      # One attendance at a session, one ledger entry (lms/classes).
                      Index("uq_credit_record_attendance_entry", "source_type", "source_id", unique=True,
                            postgresql_where=_ATTENDANCE_ENTRY, sqlite_where=_ATTENDANCE_ENTRY),
                      # One transferred credential, one ledger entry (lms/federation/transfers.py).
                      Index("uq_credit_record_transfer_entry", "source_type", "source_id", unique=True,
                            postgresql_where=_TRANSFER_ENTRY, sqlite_where=_TRANSFER_ENTRY))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    # The local course, for online courses; NULL for activities without one (see CreditOrigin).
    course_id: Mapped[int | None] = mapped_column(ForeignKey("course.id"), index=True)
    course_code: Mapped[str | None] = mapped_column(String(32))
    course_version: Mapped[int | None]
    course_title: Mapped[str] = mapped_column(String(120))  # the activity's name (课程名称 in exports)
    hours: Mapped[Decimal] = mapped_column(Numeric(4, 1))
    category: Mapped[str] = mapped_column(String(16))
    credit_year: Mapped[int]
    completed_at: Mapped[datetime]
    exam_score: Mapped[int | None]
    rule_set_id: Mapped[int | None] = mapped_column(ForeignKey("rule_set.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    entry_kind: Mapped[str] = mapped_column(String(16), default=EntryKind.COMPLETION,
                                            server_default=EntryKind.COMPLETION)
    # One voiding entry per row at most: two concurrent corrections cannot both win.
    voids_id: Mapped[int | None] = mapped_column(ForeignKey("credit_record.id"), unique=True)
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(Text)
    # Why fewer hours were counted than the course offers (e.g. the daily cap), shown to the learner.
    note: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(16), default=CreditOrigin.ONLINE_COURSE,
                                        server_default=CreditOrigin.ONLINE_COURSE)
    # What kind of activity within the origin (an external claim's kind: paper, conference...); caps per kind.
    activity_kind: Mapped[str | None] = mapped_column(String(32))
    # What produced the entry, e.g. ("hour_claim", "17"); a correction keeps its original's.
    source_type: Mapped[str | None] = mapped_column(String(32))
    source_id: Mapped[str | None] = mapped_column(String(64))

    course = relationship("Course")
    entered_by = relationship("User", foreign_keys=[entered_by_id])

    @property
    def kind_label(self) -> str:
        try:
            return EntryKind(self.entry_kind).label
        except ValueError:
            return self.entry_kind

    @property
    def origin_label(self) -> str:
        try:
            return CreditOrigin(self.origin).label
        except ValueError:
            return self.origin

    @property
    def category_label(self) -> str:
        try:
            return Category(self.category).label
        except ValueError:
            return self.category


class LedgerIsAppendOnly(RuntimeError):
    pass


@event.listens_for(Session, "before_flush")
def _refuse_changes(session, _flush_context, _instances):
    for obj in session.dirty:
        if isinstance(obj, CreditRecord) and session.is_modified(obj, include_collections=False):
            raise LedgerIsAppendOnly("credit records are append-only: add a correction instead")
    for obj in session.deleted:
        if isinstance(obj, CreditRecord):
            raise LedgerIsAppendOnly("credit records are never deleted: add a revocation instead")
