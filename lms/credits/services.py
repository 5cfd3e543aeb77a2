"""Which rules apply to a learner, and the ledger of earned hours. Services flush; callers commit."""

from datetime import date, datetime
from decimal import Decimal

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from .models import CreditRecord, RuleSet

NATIONAL_RULE_NAME = "全国默认规则（人社部令第25号）"


def ensure_national_rule_set() -> RuleSet:
    rule = db.session.scalar(select(RuleSet).where(RuleSet.region_code.is_(None)))
    if rule is None:
        rule = RuleSet(name=NATIONAL_RULE_NAME, region_code=None)
        db.session.add(rule)
        db.session.flush()
    return rule


def rule_set_for(user) -> RuleSet:
    """The learner's region's rule set; the national default otherwise."""
    region = getattr(user, "region_code", None)
    if region:
        rule = db.session.scalar(select(RuleSet).where(RuleSet.region_code == region))
        if rule is not None:
            return rule
    return ensure_national_rule_set()


def credit_year(rule: RuleSet, completed_at: datetime) -> int:
    """The credit year a completion counts toward, in the platform's local time zone."""
    local = _local_date(completed_at)
    end = (rule.cycle_end_month, rule.cycle_end_day)
    if end == (12, 31):
        return local.year
    return local.year if (local.month, local.day) > end else local.year - 1


def _local_date(at: datetime) -> date:
    from datetime import UTC
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai")
    aware = at if at.tzinfo else at.replace(tzinfo=UTC)
    return aware.astimezone(zone).date()


def record_course_completion(user, course, *, completed_at: datetime, exam_score: int | None) -> CreditRecord:
    """Write the ledger row for a completed course (the caller guarantees once per completion)."""
    rule = rule_set_for(user)
    record = CreditRecord(
        user_id=user.id, course_id=course.id, course_code=course.code, course_version=course.version,
        course_title=course.title, hours=Decimal(course.credit_hours), category=course.category,
        credit_year=credit_year(rule, completed_at), completed_at=completed_at, exam_score=exam_score,
        rule_set_id=rule.id)
    db.session.add(record)
    db.session.flush()
    return record


def active_records(user_id: int) -> list[CreditRecord]:
    return list(db.session.scalars(
        select(CreditRecord).where(CreditRecord.user_id == user_id, CreditRecord.voided_at.is_(None))
        .order_by(CreditRecord.completed_at.desc())))
