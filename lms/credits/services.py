"""Which rules apply to a learner, the ledger of earned hours, and the year's summary against the rule.

Services flush; callers commit. The ledger is append-only (see :class:`CreditRecord`): corrections
and revocations are new entries that void earlier ones, recording who and why.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal, InvalidOperation

from flask_babel import gettext as _
from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from ..accounts.models import Region
from ..catalog.models import Category, LessonKind
from ..core.audit import record_event
from ..core.clock import local_date, local_zone, utcnow_naive
from ..core.database import advisory_lock
from ..core.enums import N_
from ..core.errors import Conflict, InvalidInput, NotFound
from ..core.formatting import format_hours
from ..core.signals import credit_record_created, credit_record_voided
from ..extensions import db
from .models import ClaimKind, ClassCredit, CreditOrigin, CreditRecord, EntryKind, RuleSet

NATIONAL_RULE_NAME = "全国默认规则（人社部令第25号）"

# Examples shipped with the platform to show how provinces differ; an admin edits or replaces them.
EXAMPLE_RULE_SETS = [
    dict(region_code="440000", name="示例：次年4月30日结算（广东示例）", cycle_end_month=4, cycle_end_day=30,
         daily_cap_hours=Decimal("8")),
    dict(region_code="330000", name="示例：按课时长度分档计学时（浙江示例）", hour_tiers="20:0.5,40:1",
         minutes_per_hour=40, daily_cap_hours=Decimal("10")),
]


def ensure_national_rule_set() -> RuleSet:
    rule = db.session.scalar(select(RuleSet).where(RuleSet.region_code.is_(None)))
    if rule is None:
        rule = RuleSet(name=NATIONAL_RULE_NAME, region_code=None)
        db.session.add(rule)
        db.session.flush()
    return rule


def ensure_example_rule_sets() -> int:
    """Add the provincial examples where that region has no rule set yet (regions must exist)."""
    added = 0
    for values in EXAMPLE_RULE_SETS:
        if db.session.scalar(select(RuleSet.id).where(RuleSet.region_code == values["region_code"])) is None:
            db.session.add(RuleSet(**values))
            added += 1
    db.session.flush()
    return added


def rule_set_for(user) -> RuleSet:
    """The learner's region's rule set; the national default otherwise."""
    region = getattr(user, "region_code", None)
    if region:
        rule = db.session.scalar(select(RuleSet).where(RuleSet.region_code == region))
        if rule is not None:
            return rule
    return ensure_national_rule_set()


# ---------------------------------------------------------------- the credit year

def credit_year(rule: RuleSet, completed_at: datetime) -> int:
    """The credit year a completion counts toward, in the platform's local time zone."""
    local = local_date(completed_at)
    if not rule.closes_next_year:
        return local.year
    return local.year if (local.month, local.day) > (rule.cycle_end_month, rule.cycle_end_day) else local.year - 1


def cycle_bounds(rule: RuleSet, year: int) -> tuple[date, date]:
    """First and last local day of a credit year."""
    if not rule.closes_next_year:
        return date(year, 1, 1), date(year, 12, 31)
    end = date(year + 1, rule.cycle_end_month, rule.cycle_end_day)
    start = date(year, rule.cycle_end_month, rule.cycle_end_day) + timedelta(days=1)
    return start, end


def current_credit_year(rule: RuleSet) -> int:
    return credit_year(rule, utcnow_naive())


# ---------------------------------------------------------------- hours of a completion

def round_down(hours: Decimal, step: Decimal) -> Decimal:
    """Round down to the rule's step: rounding never creates credit."""
    step = Decimal(step)
    if step <= 0:
        return Decimal(hours)
    return ((Decimal(hours) / step).to_integral_value(rounding=ROUND_FLOOR) * step).quantize(Decimal("0.1"))


def hours_for_lessons(rule: RuleSet, declared_hours: Decimal, video_seconds: list[float]) -> Decimal:
    """The hours a completed course earns under a rule: tiered by video lesson length when the rule
    has tiers, otherwise the course's declared hours; rounded down to the rule's step."""
    tiers = rule.tiers
    if not tiers:
        return round_down(Decimal(declared_hours), rule.rounding_step)
    total = Decimal(0)
    for seconds in video_seconds:
        minutes = Decimal(seconds or 0) / 60
        total += next((hours for at_least, hours in tiers if minutes >= at_least), Decimal(0))
    return round_down(total, rule.rounding_step)


def hours_for_course(rule: RuleSet, course) -> Decimal:
    videos = [lesson.duration_seconds or 0 for lesson in course.lessons if lesson.kind == LessonKind.VIDEO]
    return hours_for_lessons(rule, course.credit_hours, videos)


def _local_day_utc_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=local_zone()).astimezone(UTC).replace(tzinfo=None)
    return start, start + timedelta(days=1)


def hours_credited_on(user_id: int, day: date) -> Decimal:
    """Hours of online study credited on a local day (the daily cap limits video study, not a day's
    seminar or an external claim dated that day)."""
    start, end = _local_day_utc_bounds(day)
    rows = db.session.scalars(_active_query(user_id).where(CreditRecord.completed_at >= start,
                                                           CreditRecord.completed_at < end,
                                                           CreditRecord.origin == CreditOrigin.ONLINE_COURSE))
    return sum((r.hours for r in rows), Decimal(0))


# Checks that a course's hours already count for a learner through an entry that names no local course
# (a credential transferred from another instance: lms/federation/transfers.py). Each takes (user,
# course) and returns why, or None. Higher packages add theirs at start-up; this one cannot import them.
COUNTED_ELSEWHERE: list = []


def counted_elsewhere(user, course) -> str | None:
    for check in COUNTED_ELSEWHERE:
        why = check(user, course)
        if why:
            return why
    return None


def record_course_completion(user, course, *, completed_at: datetime, exam_score: int | None) -> CreditRecord:
    """Write the ledger row for a completed course (the caller guarantees once per completion).

    Hours follow the learner's rule set; the rule's daily cap limits what one local day credits,
    and the row's note says how much was not counted and why. A course whose hours already count
    through a transferred credential credits nothing again (the note says so)."""
    rule = rule_set_for(user)
    hours = hours_for_course(rule, course)
    note = None
    lock_ledger()
    elsewhere = counted_elsewhere(user, course)
    if elsewhere:
        note, hours = elsewhere, Decimal(0)
    elif rule.daily_cap_hours is not None:
        room = max(Decimal(0), Decimal(rule.daily_cap_hours) - hours_credited_on(user.id, local_date(completed_at)))
        if hours > room:
            note = (f"当日已达每日上限 {_fmt(rule.daily_cap_hours)} 学时，"
                    f"本课程 {_fmt(hours - room)} 学时未计入（共 {_fmt(hours)} 学时）。")
            hours = room
    record = CreditRecord(
        user_id=user.id, course_id=course.id, course_code=course.code, course_version=course.version,
        course_title=course.title, hours=hours, category=course.category,
        credit_year=credit_year(rule, completed_at), completed_at=completed_at, exam_score=exam_score,
        rule_set_id=rule.id, entry_kind=EntryKind.COMPLETION, note=note)
    db.session.add(record)
    db.session.flush()
    credit_record_created.send(record)
    return record


def hours_for_completion(user, course, completed_at: datetime) -> Decimal:
    """The hours a completion of ``course`` on ``completed_at`` earns now under the learner's rule set,
    the rule's daily cap applied to what that local day has credited already (for a completion
    credited later than it happened: one whose hours counted elsewhere until that was voided)."""
    rule = rule_set_for(user)
    hours = hours_for_course(rule, course)
    if rule.daily_cap_hours is not None:
        room = max(Decimal(0), Decimal(rule.daily_cap_hours) - hours_credited_on(user.id, local_date(completed_at)))
        hours = min(hours, room)
    return hours


def record_activity(user, *, origin: str, title: str, hours: Decimal, category: str, day: date,
                    activity_kind: str | None = None, source: tuple[str, str] | None = None,
                    note: str | None = None, entered_by=None) -> CreditRecord:
    """Write the ledger row for hours earned without a local course (an approved external claim, a
    transferred credential...), dated on the activity's local day: it counts toward that day's credit
    year under the learner's rule set. The caller has decided the hours (caps included) and holds
    :func:`lock_ledger` when it read the year's entries to decide them."""
    rule = rule_set_for(user)
    completed_at = local_noon_utc(day)
    lock_ledger()
    source_type, source_id = source if source else (None, None)
    record = CreditRecord(
        user_id=user.id, course_id=None, course_code=None, course_version=None, course_title=title[:120],
        hours=hours, category=category, credit_year=credit_year(rule, completed_at), completed_at=completed_at,
        exam_score=None, rule_set_id=rule.id, entry_kind=EntryKind.COMPLETION, origin=origin,
        activity_kind=activity_kind, source_type=source_type, source_id=source_id, note=note,
        entered_by_id=getattr(entered_by, "id", None))
    db.session.add(record)
    db.session.flush()
    credit_record_created.send(record)
    return record


def local_noon_utc(day: date) -> datetime:
    """Noon of a local day as stored (naive UTC): the time an entry for a dated activity carries."""
    return datetime.combine(day, time(12), tzinfo=local_zone()).astimezone(UTC).replace(tzinfo=None)


def origin_hours(user_id: int, year: int, origin: str, activity_kind: str | None = None) -> Decimal:
    """Hours of a credit year that count now from one origin (and one activity kind of it)."""
    query = _active_query(user_id).where(CreditRecord.credit_year == year, CreditRecord.origin == origin)
    if activity_kind is not None:
        query = query.where(CreditRecord.activity_kind == activity_kind)
    active = query.subquery()
    return Decimal(db.session.scalar(select(func.coalesce(func.sum(active.c.hours), 0))) or 0)


# Any constant: the key of the PostgreSQL advisory lock that orders ledger writes.
_LEDGER_LOCK_KEY = 0x67786C6467  # "gxldg"


def lock_ledger() -> None:
    """Serialize ledger writers until the transaction ends, so entry ids follow commit order.

    HR systems page through the ledger by id (``/api/v1/credit-records``): a reader that has seen
    entry N must never later find a smaller id committed behind it. On PostgreSQL ids come from a
    sequence and concurrent transactions could commit out of id order, so writers take one
    transaction-scoped advisory lock before inserting. SQLite has a single writer already."""
    advisory_lock(_LEDGER_LOCK_KEY)


def _fmt(hours) -> str:
    return format_hours(hours)


# ---------------------------------------------------------------- reading the ledger

def active_query(user_id: int | None = None):
    """A select of the standing entries (neither revocations nor voided), for callers to narrow."""
    return _active_query(user_id)


def _active_query(user_id: int | None = None):
    voiding = aliased(CreditRecord)
    query = select(CreditRecord).where(
        CreditRecord.entry_kind != EntryKind.REVOCATION,
        ~exists().where(voiding.voids_id == CreditRecord.id))
    if user_id is not None:
        query = query.where(CreditRecord.user_id == user_id)
    return query


def active_records(user_id: int, year: int | None = None) -> list[CreditRecord]:
    query = _active_query(user_id)
    if year is not None:
        query = query.where(CreditRecord.credit_year == year)
    return list(db.session.scalars(query.order_by(CreditRecord.completed_at.desc(), CreditRecord.id.desc())))


def completions_by_course(course_ids: list[int]) -> dict[int, int]:
    """Learners with a standing (not voided, not revoked) credit record, per course version."""
    active = _active_query().where(CreditRecord.course_id.in_(course_ids)).subquery()
    return dict(db.session.execute(select(active.c.course_id, func.count()).group_by(active.c.course_id)).all())


def is_active(record: CreditRecord) -> bool:
    if record.entry_kind == EntryKind.REVOCATION:
        return False
    return db.session.scalar(select(CreditRecord.id).where(CreditRecord.voids_id == record.id)) is None


def active_record_for_course(user_id: int, course_code: str) -> CreditRecord | None:
    return db.session.scalar(_active_query(user_id).where(CreditRecord.course_code == course_code)
                             .order_by(CreditRecord.id.desc()).limit(1))


def history(user_id: int) -> list[CreditRecord]:
    """Every entry, voided ones included (the learner sees corrections with their reasons)."""
    return list(db.session.scalars(select(CreditRecord).where(CreditRecord.user_id == user_id)
                                   .order_by(CreditRecord.id.desc())))


def latest_in_chain(record: CreditRecord) -> CreditRecord:
    """Follow corrections forward: the entry that now stands for this completion."""
    current = record
    for _attempt in range(1000):
        nxt = db.session.scalar(select(CreditRecord).where(CreditRecord.voids_id == current.id))
        if nxt is None:
            return current
        current = nxt
    return current


def years_with_records(user_id: int) -> list[int]:
    return sorted(set(db.session.scalars(_active_query(user_id).with_only_columns(CreditRecord.credit_year))),
                  reverse=True)


# ---------------------------------------------------------------- corrections

def _get_record(record_id: int) -> CreditRecord:
    record = db.session.get(CreditRecord, record_id)
    if record is None:
        raise NotFound(_("没有找到这条学时记录。"))
    return record


def _void(actor, record: CreditRecord, entry: CreditRecord) -> CreditRecord:
    if not (entry.reason or "").strip():
        raise InvalidInput(_("请填写原因（将记入档案并告知学员）。"), field="reason")
    if not is_active(record):
        raise Conflict(_("这条学时记录已被更正或撤销，不能再次操作。请刷新后查看最新记录。"))
    lock_ledger()
    try:
        with db.session.begin_nested():
            db.session.add(entry)
    except IntegrityError:
        raise Conflict(_("这条学时记录刚被他人更正或撤销，请刷新后查看最新记录。")) from None
    record_event(actor, f"credit.{entry.entry_kind}", entry, voids=record.id, reason=entry.reason)
    credit_record_voided.send(record, by=entry)
    if entry.entry_kind != EntryKind.REVOCATION:
        credit_record_created.send(entry)
    return entry


def _copy(record: CreditRecord, **changes) -> CreditRecord:
    values = {c: getattr(record, c) for c in (
        "user_id", "course_id", "course_code", "course_version", "course_title", "hours", "category",
        "credit_year", "completed_at", "exam_score", "rule_set_id", "origin", "activity_kind", "source_type",
        "source_id")}
    values.update(changes)
    return CreditRecord(**values)


def correct_record(actor, record_id: int, *, reason: str, hours=None, category: str | None = None,
                   year: int | None = None) -> CreditRecord:
    """A new entry with corrected values that voids the earlier one."""
    record = _get_record(record_id)
    changes = {}
    if hours is not None:
        try:
            hours = Decimal(str(hours))
        except InvalidOperation:
            raise InvalidInput(_("学时应为数字，如 1.5。"), field="hours") from None
        if not Decimal(0) <= hours <= Decimal(99):
            raise InvalidInput(_("学时应在 0–99 之间。"), field="hours")
        changes["hours"] = hours
    if category is not None:
        if category not in {c.value for c in Category}:
            raise InvalidInput(_("科目类别应为公需、专业或选修。"), field="category")
        changes["category"] = category
    if year is not None:
        if not 2000 <= int(year) <= 2100:
            raise InvalidInput(_("学时年度不正确。"), field="year")
        changes["credit_year"] = int(year)
    entry = _copy(record, **changes, entry_kind=EntryKind.CORRECTION, voids_id=record.id,
                  entered_by_id=getattr(actor, "id", None), reason=(reason or "").strip())
    return _void(actor, record, entry)


def revoke_record(actor, record_id: int, *, reason: str) -> CreditRecord:
    """A revocation entry voiding the earlier one; it counts nothing itself."""
    record = _get_record(record_id)
    entry = _copy(record, hours=Decimal(0), entry_kind=EntryKind.REVOCATION, voids_id=record.id,
                  entered_by_id=getattr(actor, "id", None), reason=(reason or "").strip())
    return _void(actor, record, entry)


# ---------------------------------------------------------------- the year against the rule

@dataclass
class CategoryLine:
    category: str
    label: str
    hours: Decimal
    required: Decimal | None  # None: no minimum for this category

    @property
    def missing(self) -> Decimal:
        return max(Decimal(0), (self.required or Decimal(0)) - self.hours)

    @property
    def percent(self) -> int:
        if not self.required:
            return 100 if self.hours else 0
        return min(100, int(self.hours * 100 / self.required))


@dataclass
class YearSummary:
    year: int
    rule: RuleSet
    records: list
    lines: list = field(default_factory=list)
    total: Decimal = Decimal(0)
    starts: date | None = None
    deadline: date | None = None
    today: date | None = None
    origins: list = field(default_factory=list)  # (origin, label, hours) of the origins with entries

    @property
    def required(self) -> Decimal:
        return Decimal(self.rule.annual_hours)

    @property
    def missing(self) -> Decimal:
        return max(Decimal(0), self.required - self.total)

    @property
    def public_missing(self) -> Decimal:
        return next((line.missing for line in self.lines if line.category == Category.PUBLIC), Decimal(0))

    @property
    def percent(self) -> int:
        return min(100, int(self.total * 100 / self.required)) if self.required else 100

    @property
    def complete(self) -> bool:
        return self.missing == 0 and self.public_missing == 0

    @property
    def closed(self) -> bool:
        return self.today > self.deadline

    @property
    def days_left(self) -> int:
        return (self.deadline - self.today).days


def year_summary(user, year: int | None = None) -> YearSummary:
    """Hours of a credit year by category against the learner's rule set, with the deadline."""
    rule = rule_set_for(user)
    if year is None:
        year = current_credit_year(rule)
    records = active_records(user.id, year)
    starts, deadline = cycle_bounds(rule, year)
    summary = YearSummary(year=year, rule=rule, records=records, starts=starts, deadline=deadline,
                          today=local_date(utcnow_naive()))
    by_category = {c.value: Decimal(0) for c in Category}
    for record in records:
        by_category[record.category] = by_category.get(record.category, Decimal(0)) + record.hours
    for category in Category:
        required = Decimal(rule.public_min_hours) if category == Category.PUBLIC else None
        summary.lines.append(CategoryLine(category.value, category.label, by_category[category.value],
                                          required))
    summary.total = sum(by_category.values(), Decimal(0))
    by_origin: dict[str, Decimal] = {}
    for record in records:
        by_origin[record.origin] = by_origin.get(record.origin, Decimal(0)) + record.hours
    summary.origins = [(origin.value, origin.label, by_origin[origin.value]) for origin in CreditOrigin
                       if origin.value in by_origin]
    return summary


# ---------------------------------------------------------------- editing rule sets (admin)

RULE_FIELDS = ("name", "region_code", "annual_hours", "public_min_hours", "minutes_per_hour", "rounding_step",
               "hour_tiers", "daily_cap_hours", "cycle_end_month", "cycle_end_day", "coverage_threshold",
               "allowed_rates", "quiz_pass_score", "quiz_attempts", "claim_caps", "claim_year_cap_hours",
               "claims_need_region", "class_credit")
ALLOWED_STEPS = {Decimal("0.1"), Decimal("0.25"), Decimal("0.5"), Decimal("1")}
# The full-width comma and colon (U+FF0C, U+FF1A) a Chinese input method types, read as "," and ":".
_FULL_WIDTH = str.maketrans({0xFF0C: ",", 0xFF1A: ":"})


def _decimal(value, label: str, field_name: str) -> Decimal:
    """``value`` as a number; ``label`` (translated) names the field in the message."""
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, AttributeError):
        raise InvalidInput(_("%(label)s应为数字。", label=label), field=field_name) from None
    if not result.is_finite():
        raise InvalidInput(_("%(label)s应为数字。", label=label), field=field_name)
    return result


def validate_rule_values(values: dict) -> dict:
    """Check and normalise an admin's rule set; raises InvalidInput naming the field.

    Fields are checked in the form's order (:data:`_RULE_CHECKS`); a check may rely on the cleaned
    value of an earlier field (the public minimum on the annual hours, the day on the month)."""
    clean = {}
    for field_name, check in _RULE_CHECKS.items():
        clean[field_name] = check(values.get(field_name), field_name, clean)
    return clean


def _in_range(label: str, low, high, message: str, *, whole: bool = False):
    """A check: a number (truncated to an integer when ``whole``) from ``low`` to ``high``; ``high``
    may be a function of the values cleaned so far. ``label`` and ``message`` are marked with
    :func:`N_` (the checks are built at import time) and translated when the check runs."""

    def check(raw, field_name: str, clean: dict):
        number = _decimal(raw, _(label), field_name)
        if whole:
            number = int(number)
        if not low <= number <= (high(clean) if callable(high) else high):
            raise InvalidInput(_(message), field=field_name)
        return number

    return check


def _rule_name(raw, field_name: str, clean: dict) -> str:
    name = (raw or "").strip()
    if not 2 <= len(name) <= 80:
        raise InvalidInput(_("请填写 2–80 个字的规则名称。"), field=field_name)
    return name


def _region_code(raw, field_name: str, clean: dict) -> str | None:
    return (raw or "").strip() or None


def _rounding_step(raw, field_name: str, clean: dict) -> Decimal:
    step = _decimal(raw, _("取整单位"), field_name)
    if step not in ALLOWED_STEPS:
        raise InvalidInput(_("取整单位应为 0.1、0.25、0.5 或 1 学时。"), field=field_name)
    return step


def _hour_tiers(raw, field_name: str, clean: dict) -> str | None:
    """Tiers such as "20:0.5,40:1" (minutes:hours): a lesson of 20 minutes or more earns 0.5 hours, of 40 one hour."""
    tiers = (raw or "").translate(_FULL_WIDTH).replace(" ", "")
    seen = set()
    for item in tiers.split(",") if tiers else ():
        try:
            m, h = item.split(":")
            m, h = int(m), Decimal(h)
        except (ValueError, InvalidOperation):
            raise InvalidInput(_("分档格式应为“分钟:学时”，用逗号分隔，如 20:0.5,40:1。"), field=field_name) from None
        if not (1 <= m <= 600 and Decimal("0.1") <= h <= Decimal(20)) or m in seen:
            raise InvalidInput(_("分档的分钟数应在 1–600 之间且不重复，学时应在 0.1–20 之间。"), field=field_name)
        seen.add(m)
    return tiers or None


_DAILY_CAP = _in_range(N_("每日上限"), Decimal("0.5"), Decimal(24), N_("每日上限应在 0.5–24 学时之间；不限请留空。"))


def _daily_cap_hours(raw, field_name: str, clean: dict) -> Decimal | None:
    cap = str(raw or "").strip()
    return _DAILY_CAP(cap, field_name, clean) if cap else None  # left empty: no cap


def _cycle_end_month(raw, field_name: str, clean: dict) -> int:
    return int(_decimal(raw, _("结算月份"), field_name))  # checked with the day, below


def _cycle_end_day(raw, field_name: str, clean: dict) -> int:
    day = int(_decimal(raw, _("结算日"), field_name))
    try:
        date(2023, clean["cycle_end_month"], day)  # a non-leap year: 29 February would not exist every year
    except ValueError:
        raise InvalidInput(_("年度结算日不是每年都有的日期（如 2 月 29 日），请重新选择。"), field=field_name) from None
    return day


def _coverage_threshold(raw, field_name: str, clean: dict) -> Decimal:
    coverage = _decimal(raw, _("观看比例"), field_name)
    if coverage > 1:
        coverage = coverage / 100  # typed as a percentage
    if not Decimal("0.5") <= coverage <= Decimal(1):
        raise InvalidInput(_("课时完成所需观看比例应在 50%–100% 之间。"), field=field_name)
    return coverage.quantize(Decimal("0.01"))


def _allowed_rates(raw, field_name: str, clean: dict) -> str:
    rates = (raw or "").translate(_FULL_WIDTH).replace(" ", "")
    try:
        parsed = sorted({Decimal(r) for r in rates.split(",") if r})
    except InvalidOperation:
        raise InvalidInput(_("允许的播放倍速应为数字，用逗号分隔，如 1,1.25,1.5。"), field=field_name) from None
    if not parsed or Decimal(1) not in parsed or any(not Decimal("0.5") <= r <= Decimal(2) for r in parsed):
        raise InvalidInput(_("允许的播放倍速须包含 1，且每项在 0.5–2 之间。"), field=field_name)
    return ",".join(format(r.normalize(), "f") for r in parsed)


def _claim_caps(raw, field_name: str, clean: dict) -> str | None:
    """Caps such as "paper:20,conference:30" (kind:hours a year); a kind may be typed by its label (论文:20)."""
    caps = (raw or "").translate(_FULL_WIDTH).replace(" ", "")
    pairs = {}
    for item in caps.split(",") if caps else ():
        try:
            kind, hours = item.split(":")
            kind, hours = ClaimKind.from_label(kind), Decimal(hours)
        except (ValueError, InvalidOperation):
            raise InvalidInput(_("上限格式应为“类型:学时”，用逗号分隔，如 paper:20,conference:30；类型为 %(kinds)s。",
                                 kinds=_("、").join(_("%(name)s（%(code)s）", name=k.value, code=k.label) for k in ClaimKind)),
                               field=field_name) from None
        if not Decimal(0) <= hours <= Decimal(500) or kind.value in pairs:
            raise InvalidInput(_("每类上限应在 0–500 学时之间，且每类只写一次。"), field=field_name)
        pairs[kind.value] = hours
    return ",".join(f"{kind}:{format(hours.normalize(), 'f')}" for kind, hours in pairs.items()) or None


_CLAIM_YEAR_CAP = _in_range(N_("学时登记年度上限"), Decimal(0), Decimal(500), N_("学时登记年度上限应在 0–500 学时之间；不限请留空。"))


def _claim_year_cap_hours(raw, field_name: str, clean: dict) -> Decimal | None:
    cap = str(raw or "").strip()
    return _CLAIM_YEAR_CAP(cap, field_name, clean) if cap else None


def _claims_need_region(raw, field_name: str, clean: dict) -> bool:
    return str(raw or "").strip().lower() in ("1", "true", "y", "yes", "on")


def _class_credit(raw, field_name: str, clean: dict) -> str:
    value = str(raw or "").strip() or ClassCredit.SESSION.value
    if value not in {c.value for c in ClassCredit}:
        raise InvalidInput(_("研修培训学时的计入方式只能是按场次或按项目结业。"), field=field_name)
    return value


# One check per field of RULE_FIELDS, in that order: (raw value, field name, values cleaned so far) → clean value.
_RULE_CHECKS = {
    "name": _rule_name,
    "region_code": _region_code,
    "annual_hours": _in_range(N_("年度总学时"), Decimal(1), Decimal(500), N_("年度总学时应在 1–500 学时之间。")),
    "public_min_hours": _in_range(N_("公需科目最低学时"), Decimal(0), lambda clean: clean["annual_hours"],
                                  N_("公需科目最低学时应在 0 到年度总学时之间。")),
    "minutes_per_hour": _in_range(N_("每学时分钟数"), 20, 60, N_("每学时分钟数应在 20–60 分钟之间（常见为 45 分钟）。"),
                                  whole=True),
    "rounding_step": _rounding_step,
    "hour_tiers": _hour_tiers,
    "daily_cap_hours": _daily_cap_hours,
    "cycle_end_month": _cycle_end_month,
    "cycle_end_day": _cycle_end_day,
    "coverage_threshold": _coverage_threshold,
    "allowed_rates": _allowed_rates,
    "quiz_pass_score": _in_range(N_("测验合格分"), 0, 100, N_("测验合格分应在 0–100 分之间。"), whole=True),
    "quiz_attempts": _in_range(N_("测验次数"), 1, 20, N_("测验次数应在 1–20 次之间。"), whole=True),
    "claim_caps": _claim_caps,
    "claim_year_cap_hours": _claim_year_cap_hours,
    "claims_need_region": _claims_need_region,
    "class_credit": _class_credit,
}


def save_rule_set(actor, rule_id: int | None, values: dict) -> RuleSet:
    """Create or edit a rule set. Existing ledger entries keep the hours and year they were given."""
    clean = validate_rule_values(values)
    if rule_id is None:
        rule = RuleSet()
    else:
        rule = db.session.get(RuleSet, rule_id)
        if rule is None:
            raise NotFound(_("没有找到这套学时规则。"))
        if rule.region_code is None:
            clean["region_code"] = None  # the national default stays the default
    if clean["region_code"] is not None:
        if db.session.get(Region, clean["region_code"]) is None:
            raise InvalidInput(_("请选择有效的地区。"), field="region_code")
        other = db.session.scalar(select(RuleSet).where(RuleSet.region_code == clean["region_code"]))
        if other is not None and other is not rule:
            raise Conflict(_("该地区已有学时规则“%(name)s”，请直接编辑那一套。", name=other.name))
    elif rule_id is None:
        raise InvalidInput(_("全国默认规则只有一套；新建规则请选择地区。"), field="region_code")
    before = {k: str(getattr(rule, k)) for k in RULE_FIELDS} if rule_id is not None else {}
    for key, value in clean.items():
        setattr(rule, key, value)
    if rule_id is None:
        db.session.add(rule)
    db.session.flush()
    changed = {k: [before.get(k), str(getattr(rule, k))] for k in RULE_FIELDS if before.get(k) != str(getattr(rule, k))}
    record_event(actor, "rule_set.create" if rule_id is None else "rule_set.update", rule, changed=changed)
    return rule


def all_rule_sets() -> list[RuleSet]:
    return list(db.session.scalars(select(RuleSet).order_by(RuleSet.region_code.is_not(None), RuleSet.region_code)))
