"""Unit admins confirm who works for them and follow their employees' hours; HR auditors follow a region.

Every function takes the acting person and authorizes them on the object: a unit admin acts only
for the units of their grants, an HR auditor only for the regions of theirs, an admin for any.
Records are read through :mod:`lms.exports.records` (one grouped query per page, never one per
person). Functions only flush; the caller commits.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import and_, case, distinct, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from ..accounts.identifiers import lookup_code
from ..accounts.models import EmploymentStatus, Organization, Region, Role, RoleGrant, User
from ..catalog.models import Category
from ..core.audit import record_event
from ..core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from ..credits.models import RuleSet
from ..credits.services import current_credit_year, ensure_national_rule_set
from ..exports import records
from ..exports.records import Scope
from ..extensions import db

PAGE_SIZE = 50
PENDING_SHOWN = 200
APPROVED_ACTION = "employment.approved"
REJECTED_ACTION = "employment.rejected"


# ---------------------------------------------------------------- who may act for which unit or region

def _signed_in(actor) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise NotAllowed(_("请先登录。"))


def managed_units(actor) -> list[Organization]:
    """The units a unit admin administers, by name."""
    units = {g.organization.id: g.organization for g in actor.grants_for(Role.UNIT_ADMIN) if g.organization}
    return sorted(units.values(), key=lambda o: (o.name, o.id))


def managed_regions(actor) -> list[Region]:
    regions = {g.region.code: g.region for g in actor.grants_for(Role.HR_AUDITOR) if g.region}
    return sorted(regions.values(), key=lambda r: r.code)


def _choose(actor, code: str, managed: list, *, key, lookup, none_message: str, other_message):
    """What ``actor`` acts on: the item named by ``code`` among ``managed`` (an admin: any, by
    ``lookup``), or the only one they manage; None: they must choose."""
    if actor.has_role(Role.ADMIN):  # any; their own by default when they manage exactly one
        return lookup(code) if code else (managed[0] if len(managed) == 1 else None)
    if not managed:
        raise NotAllowed(none_message)
    if code:
        found = next((item for item in managed if key(item) == code), None)
        if found is None:
            raise NotAllowed(other_message(managed))
        return found
    return managed[0] if len(managed) == 1 else None


def authorize_unit(actor, code: str | None) -> Organization | None:
    """The unit ``actor`` acts for: the one named by ``code`` (credit code), or their only unit.

    None: the actor must choose (several units, or an admin who named none)."""
    _signed_in(actor)
    return _choose(actor, lookup_code(code, _("统一社会信用代码"), field="unit"), managed_units(actor), key=lambda u: u.credit_code,
                   lookup=records.organization_by_code, none_message=_("只有单位管理员和平台管理员可以管理单位。"),
                   other_message=lambda units: _("您不是该单位的管理员，只能管理：%(units)s。",
                                                 units=_("、").join(u.name for u in units)))


def authorize_region(actor, code: str | None) -> Region | None:
    """The region ``actor`` audits: the one named by ``code``, or their only region; None: choose."""
    _signed_in(actor)
    code = (code or "").strip()
    return _choose(actor, code, managed_regions(actor), key=lambda r: r.code, lookup=records.region_by_code,
                   none_message=_("只有人社审核人员和平台管理员可以查看地区学时。"),
                   other_message=lambda regions: _("您只能查看%(regions)s的学时，不能查看地区 %(code)s。",
                                                   regions=_("、").join(r.name for r in regions), code=code))


def unit_scope(unit: Organization) -> Scope:
    return Scope(organization_id=unit.id, label=unit.name)


def region_scope(region: Region) -> Scope:
    return Scope(region_code=region.code, label=region.name)


def all_regions() -> list[Region]:
    return list(db.session.scalars(select(Region).order_by(Region.code)))


# ---------------------------------------------------------------- the year

def _rule_for_region(region_code: str | None) -> RuleSet:
    if region_code:
        rule = db.session.scalar(select(RuleSet).where(RuleSet.region_code == region_code))
        if rule is not None:
            return rule
    return ensure_national_rule_set()


def default_year(region_code: str | None) -> int:
    return current_credit_year(_rule_for_region(region_code))


def choose_year(value, region_code: str | None) -> int:
    """The year asked for (?year=), or the current credit year; nonsense is refused."""
    if value in (None, ""):
        return default_year(region_code)
    try:
        year = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(_("年度应为四位数字，如 2026。"), field="year") from None
    if not 2000 <= year <= 2100:
        raise InvalidInput(_("年度应在 2000–2100 之间。"), field="year")
    return year


def year_choices(year: int, region_code: str | None) -> list[int]:
    current = default_year(region_code)
    return sorted({*range(current - 4, current + 1), year}, reverse=True)


# ---------------------------------------------------------------- standing against the rule, in bulk

@dataclass
class Standing:
    """One person's year against their rule (as :func:`lms.credits.services.year_summary` counts it)."""

    user_id: int
    real_name: str
    id_number_masked: str
    region_code: str | None
    unit_name: str | None
    total: Decimal
    public: Decimal
    required: Decimal
    public_min: Decimal

    @property
    def missing(self) -> Decimal:
        return max(Decimal(0), self.required - self.total)

    @property
    def public_missing(self) -> Decimal:
        return max(Decimal(0), self.public_min - self.public)

    @property
    def below(self) -> bool:
        return self.missing > 0 or self.public_missing > 0

    @property
    def percent(self) -> int:
        return min(100, int(self.total * 100 / self.required)) if self.required else 100


@dataclass
class Page:
    items: list
    page: int
    total: int
    per_page: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _hours(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.1"))


def _standing_query(scope: Scope, year: int, population):
    """One row per person of ``population`` (SQL conditions on User): their active hours of ``year``
    in ``scope`` (total and public), their rule's requirements, and whether they are below target.

    The hours come from one grouped query over :func:`records.record_query`; the rule is the
    person's region's rule set, else the national default (as ``rule_set_for``)."""
    national = ensure_national_rule_set()
    entries = records.record_query(scope, year=year).order_by(None).subquery()
    sums = (select(entries.c.user_id, func.sum(entries.c.hours).label("total"),
                   func.sum(case((entries.c.category == Category.PUBLIC.value, entries.c.hours), else_=0))
                   .label("public"))
            .group_by(entries.c.user_id).subquery())
    regional = aliased(RuleSet)
    default = aliased(RuleSet)
    total = func.coalesce(sums.c.total, 0)
    public = func.coalesce(sums.c.public, 0)
    required = func.coalesce(regional.annual_hours, default.annual_hours)
    public_min = func.coalesce(regional.public_min_hours, default.public_min_hours)
    below = case((or_(total < required, public < public_min), 1), else_=0)
    missing = case((total < required, required - total), else_=0)
    unit_id = case((User.employment_status == EmploymentStatus.APPROVED, User.employer_id), else_=None)
    return (select(User.id.label("user_id"), User.real_name, User.id_number_masked, User.region_code,
                   unit_id.label("unit_id"), total.label("total"), public.label("public"),
                   required.label("required"), public_min.label("public_min"), below.label("below"),
                   missing.label("missing"))
            .select_from(User)
            .join(default, default.id == national.id)
            .outerjoin(regional, regional.region_code == User.region_code)
            .outerjoin(sums, sums.c.user_id == User.id)
            .where(*population))


def _standing_page(scope: Scope, year: int, population, *, search: str, page: int, only_below=False) -> Page:
    """Below-target people first (most hours missing first), then the rest; ``search``: name contains."""
    conditions = list(population)
    if search:
        conditions.append(User.real_name.contains(search, autoescape=True))
    base = _standing_query(scope, year, conditions).subquery()
    wanted = [base.c.below == 1] if only_below else []
    count = db.session.scalar(select(func.count()).select_from(base).where(*wanted))
    page = max(1, min(page, max(1, -(-count // PAGE_SIZE))))
    rows = db.session.execute(
        select(base, Organization.name.label("unit_name"))
        .outerjoin(Organization, Organization.id == base.c.unit_id)
        .where(*wanted)
        .order_by(base.c.below.desc(), base.c.missing.desc(), base.c.user_id)
        .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE))
    items = [Standing(user_id=r.user_id, real_name=r.real_name, id_number_masked=r.id_number_masked,
                      region_code=r.region_code, unit_name=r.unit_name, total=_hours(r.total),
                      public=_hours(r.public), required=_hours(r.required), public_min=_hours(r.public_min))
             for r in rows]
    return Page(items=items, page=page, total=count)


def _counts(scope: Scope, year: int, population) -> tuple[int, int]:
    """(people, of whom below target)."""
    base = _standing_query(scope, year, population).subquery()
    people, below = db.session.execute(select(func.count(), func.coalesce(func.sum(base.c.below), 0))
                                       .select_from(base)).one()
    return int(people), int(below)


def _page_number(value) -> int:
    try:
        return max(1, int(value or 1))
    except (TypeError, ValueError):
        return 1


# ---------------------------------------------------------------- the unit

def _unit_population(unit: Organization):
    return [User.employer_id == unit.id, User.employment_status == EmploymentStatus.APPROVED]


def pending_learners(unit: Organization) -> tuple[list[User], int]:
    """Learners who named the unit and wait for its decision (oldest first), and how many in all."""
    where = and_(User.employer_id == unit.id, User.employment_status == EmploymentStatus.PENDING)
    count = db.session.scalar(select(func.count()).select_from(User).where(where))
    people = list(db.session.scalars(select(User).where(where).order_by(User.created_at, User.id)
                                     .limit(PENDING_SHOWN)))
    return people, count


@dataclass
class UnitDashboard:
    unit: Organization
    year: int
    years: list[int]
    pending: list[User]
    pending_count: int
    employees: int
    below_count: int
    standing: Page
    search: str
    units: list[Organization] = field(default_factory=list)


def unit_dashboard(actor, unit_code: str | None, *, year=None, search: str = "", page=1) -> UnitDashboard | None:
    """The unit page for ``actor``; None when they must first choose a unit."""
    unit = authorize_unit(actor, unit_code)
    if unit is None:
        return None
    year = choose_year(year, unit.region_code)
    search = (search or "").strip()[:50]
    scope = unit_scope(unit)
    population = _unit_population(unit)
    pending, pending_count = pending_learners(unit)
    employees, below_count = _counts(scope, year, population)
    standing = _standing_page(scope, year, population, search=search, page=_page_number(page))
    return UnitDashboard(unit=unit, year=year, years=year_choices(year, unit.region_code), pending=pending,
                         pending_count=pending_count, employees=employees, below_count=below_count,
                         standing=standing, search=search,
                         units=[] if actor.has_role(Role.ADMIN) else managed_units(actor))


def decide_employment(actor, unit_code: str, learner_id: int, *, approve: bool, reason: str = "") -> User:
    """Approve or reject a learner's claim to work for the unit. Refused for another unit's learner
    (NotFound: the unit cannot tell whom it does not employ) and when already decided (Conflict)."""
    unit = authorize_unit(actor, unit_code)
    if unit is None:
        raise InvalidInput(_("请先选择单位。"), field="unit")
    learner = db.session.scalar(select(User).where(User.id == learner_id, User.employer_id == unit.id))
    if learner is None:
        raise NotFound(_("没有找到这位学员：他（她）没有填报本单位。"))
    reason = " ".join((reason or "").split())
    if not approve and not 2 <= len(reason) <= 200:
        raise InvalidInput(_("请填写不通过的原因（2–200 字），学员会在个人信息页看到这条原因。"), field="reason")
    new_status = EmploymentStatus.APPROVED if approve else EmploymentStatus.REJECTED
    # Conditional: of two decisions made at once, exactly one changes the row.
    result = db.session.execute(
        update(User)
        .where(User.id == learner.id, User.employer_id == unit.id, User.employment_status == EmploymentStatus.PENDING)
        .values(employment_status=new_status, employment_note=None if approve else reason)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.refresh(learner)
        done = EmploymentStatus(learner.employment_status).label
        raise Conflict(_("%(real_name)s 的单位确认已处理（%(done)s），不能重复操作。请刷新页面查看最新状态。", real_name=learner.real_name, done=done))
    db.session.refresh(learner)
    record_event(actor, APPROVED_ACTION if approve else REJECTED_ACTION, learner, organization_id=unit.id,
                 credit_code=unit.credit_code, **({} if approve else {"reason": reason}))
    db.session.flush()
    return learner


def rejection_reason(user) -> str | None:
    if getattr(user, "employment_status", None) != EmploymentStatus.REJECTED:
        return None
    return user.employment_note


# ---------------------------------------------------------------- the region

def _region_population(region: Region):
    learner = exists().where(RoleGrant.user_id == User.id, RoleGrant.role == Role.LEARNER)
    return [User.region_code == region.code, learner]


@dataclass
class UnitLine:
    unit_id: int
    name: str
    credit_code: str | None
    employees: int
    complete: int
    hours: Decimal

    @property
    def percent(self) -> int:
        return int(self.complete * 100 / self.employees) if self.employees else 0


@dataclass
class RegionDashboard:
    region: Region
    year: int
    years: list[int]
    learners: int
    learners_with_records: int
    hours_total: Decimal
    below_count: int
    unit_count: int
    units: Page
    below: Page
    search: str
    regions: list[Region] = field(default_factory=list)


def _region_units(scope: Scope, year: int, population, page: int) -> Page:
    """Units with approved employees in the region, the least complete first."""
    base = _standing_query(scope, year, population).subquery()
    employees = func.count(base.c.user_id)
    complete = func.sum(1 - base.c.below)
    grouped = (select(Organization.id, Organization.name, Organization.credit_code, employees.label("employees"),
                      complete.label("complete"), func.sum(base.c.total).label("hours"))
               .join(base, base.c.unit_id == Organization.id)
               .group_by(Organization.id, Organization.name, Organization.credit_code))
    count = db.session.scalar(select(func.count()).select_from(grouped.subquery()))
    page = max(1, min(page, max(1, -(-count // PAGE_SIZE))))
    rows = db.session.execute(grouped.order_by((func.sum(base.c.below) * 1000 / employees).desc(), Organization.id)
                              .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE))
    items = [UnitLine(unit_id=r.id, name=r.name, credit_code=r.credit_code, employees=int(r.employees),
                      complete=int(r.complete or 0), hours=_hours(r.hours)) for r in rows]
    return Page(items=items, page=page, total=count)


def region_dashboard(actor, region_code: str | None, *, year=None, search: str = "", page=1,
                     unit_page=1) -> RegionDashboard | None:
    """The region page for ``actor``; None when they must first choose a region."""
    region = authorize_region(actor, region_code)
    if region is None:
        return None
    year = choose_year(year, region.code)
    search = (search or "").strip()[:50]
    scope = region_scope(region)
    population = _region_population(region)
    entries = records.record_query(scope, year=year).order_by(None).subquery()
    with_records, hours_total = db.session.execute(
        select(func.count(distinct(entries.c.user_id)), func.coalesce(func.sum(entries.c.hours), 0))).one()
    learners, below_count = _counts(scope, year, population)
    units = _region_units(scope, year, population, _page_number(unit_page))
    below = _standing_page(scope, year, population, search=search, page=_page_number(page), only_below=True)
    return RegionDashboard(region=region, year=year, years=year_choices(year, region.code), learners=learners,
                           learners_with_records=int(with_records), hours_total=_hours(hours_total),
                           below_count=below_count, unit_count=units.total, units=units, below=below,
                           search=search, regions=[] if actor.has_role(Role.ADMIN) else managed_regions(actor))

