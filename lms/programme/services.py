"""Plans and their fulfilment, for the programme office (项目办).

Who sees what: a programme office granted without a region is the national office: it imports the
national plan and sees the whole country against it. A regional office (a grant with a region) sees
the learners of its region, and ratios only against a plan it imported for its region; the
national targets are never its targets. Admins act for any scope. Every function takes the acting
person and authorizes them on the scope; functions only flush, the caller commits.

People trained (已培训人数) in a department × domain cell, for a year: the distinct learners with at
least one credit record of that credit year that counts (not revoked nor voided by a correction)
for a course whose subject maps to the domain, attributed to the supervising department (主管部门)
of the unit that approved them as its employee. Learners without an approved unit, or whose unit
chose no department, are counted apart (row key ``""``, "未设主管部门"). A department's total
counts each learner once, however many domains they studied; a domain's total is the sum of its
cells (each learner has one department).
"""

import hashlib
import io
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import xlsxwriter
from flask_babel import gettext as _
from sqlalchemy import and_, distinct, exists, func, select
from sqlalchemy.orm import aliased, selectinload

from ..accounts.models import EmploymentStatus, Organization, Region, Role, User
from ..catalog.models import Course, Domain, Subject
from ..core.audit import record_event
from ..core.clock import local_date, utcnow_naive
from ..core.database import advisory_lock
from ..core.errors import InvalidInput, NotAllowed, NotFound
from ..credits.models import CreditRecord, EntryKind
from ..extensions import db
from .models import NATIONAL, Plan, PlanDepartment, PlanTarget
from .plans import PlanError, parse_plan

REFERENCE_PLAN = Path(__file__).parent / "data" / "plan_2022_targets.csv"
REFERENCE_YEAR = 2022
OTHER_DEPARTMENT = "其他"  # a unit whose department is none of the plan's
UNASSIGNED = ""  # the row of learners whose unit chose no department (or who have no approved unit)
PERSONS_PER_UNIT = Decimal(10000)  # targets are in 万人
IMPORTED_ACTION = "plan.imported"
PROBLEMS_SHOWN = 10  # on the page; the command line lists them all
DEPARTMENT_ACTION = "unit.department_set"


# ---------------------------------------------------------------- who acts for which scope

def _signed_in(actor) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise NotAllowed(_("请先登录。"))


def office_scopes(actor) -> list[str]:
    """The scopes ``actor`` may act for: "national" and/or region codes (an admin: national first)."""
    scopes = []
    if actor.has_role(Role.ADMIN):
        scopes.append(NATIONAL)
    for grant in actor.grants_for(Role.PROGRAMME_OFFICE):
        scope = grant.region_code or NATIONAL
        if scope not in scopes:
            scopes.append(scope)
    return sorted(scopes, key=lambda s: (s != NATIONAL, s))


def authorize_scope(actor, scope: str | None) -> str:
    """The scope asked for (?scope=), or the actor's first; refused when it is not theirs."""
    _signed_in(actor)
    scopes = office_scopes(actor)
    if not scopes:
        raise NotAllowed(_("只有项目办和平台管理员可以查看计划完成情况。"))
    scope = (scope or "").strip() or scopes[0]
    if scope == NATIONAL or scope in scopes:
        if scope not in scopes:
            raise NotAllowed(_("地区项目办只能查看本地区的完成情况。"))
        return scope
    if actor.has_role(Role.ADMIN):
        if db.session.get(Region, scope) is None:
            raise InvalidInput(_("地区代码 %(code)s 不存在。", code=scope), field="scope")
        return scope
    raise NotAllowed(_("您只能查看%(scopes)s的计划完成情况。", scopes=_("、").join(scope_label(s) for s in scopes)))


def scope_choices(actor) -> list[tuple[str, str]]:
    """(scope, label) the actor may choose: their offices' scopes; an admin's also every region."""
    choices = [(s, scope_label(s)) for s in office_scopes(actor)]
    if actor.has_role(Role.ADMIN):
        chosen = {s for s, _label in choices}
        choices += [(r.code, r.name) for r in db.session.scalars(select(Region).order_by(Region.code))
                    if r.code not in chosen]
    return choices


def scope_label(scope: str) -> str:
    if scope == NATIONAL:
        return _("全国")
    region = db.session.get(Region, scope)
    return region.name if region else scope


def _region_of(scope: str) -> str | None:
    return None if scope == NATIONAL else scope


# ---------------------------------------------------------------- plans

# Any constant: the key of the PostgreSQL advisory lock that orders plan imports.
_PLANS_LOCK_KEY = 0x6778706C6E  # "gxpln"


def plan_for(year: int, scope: str) -> Plan | None:
    return db.session.scalar(select(Plan).where(Plan.year == year, Plan.scope == scope)
                             .execution_options(populate_existing=True)
                             .options(selectinload(Plan.departments).selectinload(PlanDepartment.targets)))


def plans_of(scopes: list[str]) -> list[Plan]:
    return list(db.session.scalars(select(Plan).where(Plan.scope.in_(scopes))
                                   .order_by(Plan.year.desc(), Plan.scope)))


def check_year(value) -> int:
    try:
        year = int(str(value).strip())
    except (TypeError, ValueError):
        raise InvalidInput(_("年度应为四位数字，如 2022。"), field="year") from None
    if not 2000 <= year <= 2100:
        raise InvalidInput(_("年度应在 2000–2100 之间。"), field="year")
    return year


def import_plan(actor, year, data: bytes, *, scope: str = NATIONAL, source_name: str = "") -> Plan:
    """Import (or replace) the plan of ``year`` for ``scope`` from CSV bytes. A table that fails a
    check is refused whole (:class:`InvalidInput` naming every cell at fault); nothing is changed.
    ``actor`` None: the command line or the reference data."""
    if actor is not None:
        scope = authorize_scope(actor, scope)
    elif scope != NATIONAL and db.session.get(Region, scope) is None:
        raise InvalidInput(_("地区代码 %(code)s 不存在。", code=scope), field="scope")
    year = check_year(year)
    try:
        parsed = parse_plan(data)
    except PlanError as exc:
        shown = " ".join(exc.problems[:PROBLEMS_SHOWN])
        if len(exc.problems) > PROBLEMS_SHOWN:
            shown += " " + _("……共 %(n)s 处问题。", n=len(exc.problems))
        error = InvalidInput(_("计划表未导入：%(problems)s", problems=shown), field="file")
        error.problems = exc.problems
        raise error from None
    advisory_lock(_PLANS_LOCK_KEY)  # imports one at a time: the second replaces the first's table
    plan = plan_for(year, scope)
    replaced = plan is not None
    if plan is None:
        plan = Plan(year=year, scope=scope, region_code=_region_of(scope))
        db.session.add(plan)
    else:
        plan.departments.clear()
        db.session.flush()  # the old rows go before the new ones take their names
    plan.source_name = (source_name or "")[:200]
    plan.source_sha256 = hashlib.sha256(data).hexdigest()
    plan.imported_by_id = getattr(actor, "id", None)
    plan.imported_at = utcnow_naive()
    for position, dep in enumerate(parsed.departments):
        department = PlanDepartment(position=position, name=dep.name, subtotal=dep.subtotal)
        department.targets = [PlanTarget(domain=domain, target=value) for domain, value in dep.targets.items()]
        plan.departments.append(department)
    db.session.flush()
    record_event(actor, IMPORTED_ACTION, plan, year=year, scope=scope, departments=len(parsed.departments),
                 replaced=replaced, sha256=plan.source_sha256)
    return plan


def ensure_reference_plan() -> Plan:
    """The 2022 national plan (the seed's attachment table), shipped as reference data; idempotent."""
    plan = plan_for(REFERENCE_YEAR, NATIONAL)
    if plan is None:
        plan = import_plan(None, REFERENCE_YEAR, REFERENCE_PLAN.read_bytes(), source_name=REFERENCE_PLAN.name)
    return plan


# ---------------------------------------------------------------- the unit's supervising department

def department_choices() -> list[str]:
    """The departments of every plan, the newest national plan's order first, then 其他."""
    rows = db.session.execute(
        select(PlanDepartment.name, Plan.year, Plan.scope, PlanDepartment.position).join(Plan)
        .order_by(Plan.year.desc(), Plan.scope != NATIONAL, PlanDepartment.position)).all()
    names = []
    for name, *_rest in rows:
        if name not in names and name != OTHER_DEPARTMENT:
            names.append(name)
    return [*names, OTHER_DEPARTMENT]


def set_supervising_department(actor, unit: Organization, name: str) -> Organization:
    """The unit admin (or an admin) chooses the unit's 主管部门 among :func:`department_choices`;
    an empty choice clears it."""
    _signed_in(actor)
    manages = any(g.organization_id == unit.id for g in actor.grants_for(Role.UNIT_ADMIN))
    if not (manages or actor.has_role(Role.ADMIN)):
        raise NotAllowed(_("只有本单位的管理员可以设置主管部门。"))
    name = " ".join((name or "").split())
    if name and name not in department_choices():
        raise InvalidInput(_("请从列表中选择主管部门；不在列表中的请选“其他”。"), field="department")
    before = unit.supervising_department
    unit.supervising_department = name or None
    db.session.flush()
    if before != unit.supervising_department:
        record_event(actor, DEPARTMENT_ACTION, unit, before=before, after=unit.supervising_department)
    return unit


# ---------------------------------------------------------------- counting people trained

def _counting_records(year: int, scope: str):
    """(learner, department key, domain, unit id, course code) of every record that counts in ``year``
    within ``scope``: a subquery the counts below group."""
    voiding = aliased(CreditRecord)
    department = func.coalesce(Organization.supervising_department, UNASSIGNED)
    query = (
        select(CreditRecord.user_id.label("user_id"), department.label("department"),
               Subject.domain.label("domain"), Organization.id.label("unit_id"),
               CreditRecord.course_code.label("course_code"))
        .join(User, User.id == CreditRecord.user_id)
        .outerjoin(Organization, and_(Organization.id == User.employer_id,
                                      User.employment_status == EmploymentStatus.APPROVED))
        .join(Course, Course.id == CreditRecord.course_id)
        .join(Subject, Subject.id == Course.subject_id)
        .where(CreditRecord.credit_year == year, CreditRecord.entry_kind != EntryKind.REVOCATION,
               ~exists().where(voiding.voids_id == CreditRecord.id))
    )
    if scope != NATIONAL:
        query = query.where(User.region_code == scope)
    return query.subquery()


def trained_counts(year: int, scope: str) -> tuple[dict, dict, int]:
    """({(department, domain): people}, {department: people}, people in all): three grouped queries."""
    rec = _counting_records(year, scope)
    cells = {(dep, dom): n for dep, dom, n in db.session.execute(
        select(rec.c.department, rec.c.domain, func.count(distinct(rec.c.user_id)))
        .group_by(rec.c.department, rec.c.domain))}
    rows = dict(db.session.execute(
        select(rec.c.department, func.count(distinct(rec.c.user_id))).group_by(rec.c.department)).all())
    everyone = db.session.scalar(select(func.count(distinct(rec.c.user_id)))) or 0
    return cells, rows, everyone


# ---------------------------------------------------------------- the dashboard

LEVELS = 6  # colour steps of the scale (static/css/programme.css): 0 none … 5 reached


def ratio_of(trained: int, target: Decimal | None) -> Decimal | None:
    """People trained ÷ (target × 10,000), to four decimals; None without a (positive) target."""
    if target is None or target <= 0:
        return None
    return (Decimal(trained) / (target * PERSONS_PER_UNIT)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def level_of(ratio: Decimal | None) -> int | None:
    """The colour step of a ratio: 0 (nothing yet), 1 (< 25 %), 2 (< 50 %), 3 (< 75 %), 4 (< 100 %),
    5 (reached); None without a target."""
    if ratio is None:
        return None
    if ratio <= 0:
        return 0
    if ratio >= 1:
        return 5
    return 1 + int(ratio * 4)


@dataclass
class Cell:
    target: Decimal | None  # 万人; None: no target (a blank cell, or no plan)
    trained: int
    ratio: Decimal | None = None
    level: int | None = None

    def __post_init__(self):
        self.ratio = ratio_of(self.trained, self.target)
        self.level = level_of(self.ratio)

    @property
    def percent(self) -> str:
        return "—" if self.ratio is None else f"{(self.ratio * 100).quantize(Decimal('0.1'))}%"


@dataclass
class Row:
    key: str  # the department's name; "" for the unassigned
    label: str
    cells: list[Cell]  # one per Domain, in order
    total: Cell
    in_plan: bool

    @property
    def bars(self) -> list[tuple[Domain, Cell]]:
        """The cells that have a ratio, with their domain (the department's chart)."""
        return [(domain, cell) for domain, cell in zip(Domain, self.cells, strict=True) if cell.ratio is not None]


@dataclass
class Board:
    year: int
    scope: str
    scope_label: str
    plan: Plan | None
    domains: list[Domain]
    rows: list[Row]
    totals: list[Cell]  # per domain, over the rows (the unassigned row too)
    grand: Cell
    unassigned: Row
    scopes: list[tuple[str, str]] = field(default_factory=list)
    years: list[int] = field(default_factory=list)

    @property
    def has_targets(self) -> bool:
        return self.plan is not None


def default_year(scope: str) -> int:
    """The newest year with a plan for the scope (national plans for a region without one), else this year."""
    year = db.session.scalar(select(func.max(Plan.year)).where(Plan.scope == scope))
    if year is None:
        year = db.session.scalar(select(func.max(Plan.year)).where(Plan.scope == NATIONAL))
    return year or local_date(utcnow_naive()).year


def _year(value, scope: str) -> int:
    return default_year(scope) if value in (None, "") else check_year(value)


def _row_names(plan: Plan | None, year: int, seen: set[str]) -> list[tuple[str, bool]]:
    """(name, in the plan) of the rows: the plan's departments (for a region without a plan, the
    national plan's, for their names), then any other department that has learners, then 其他."""
    named = plan or plan_for(year, NATIONAL)
    names = [(d.name, plan is not None) for d in named.departments] if named else []
    listed = {n for n, _in_plan in names}
    extra = sorted(n for n in seen if n not in listed and n not in (UNASSIGNED, OTHER_DEPARTMENT))
    names += [(n, False) for n in extra]
    if OTHER_DEPARTMENT not in listed:
        names.append((OTHER_DEPARTMENT, False))
    return names


def fulfilment(actor, *, scope: str | None = None, year=None) -> Board:
    """The department × domain table of ``scope`` for ``year``: targets, people trained, ratios."""
    scope = authorize_scope(actor, scope)
    year = _year(year, scope)
    plan = plan_for(year, scope)  # a region's ratios: against its own plan only
    cells, row_totals, everyone = trained_counts(year, scope)
    targets = {(d.name, t.domain): t.target for d in plan.departments for t in d.targets} if plan else {}
    domains = list(Domain)
    rows = []
    for name, in_plan in _row_names(plan, year, {dep for dep, _dom in cells}):
        department = next((d for d in plan.departments if d.name == name), None) if plan else None
        label = _("其他") if name == OTHER_DEPARTMENT else name
        rows.append(Row(key=name, label=label, in_plan=in_plan,
                        cells=[Cell(targets.get((name, d.value)), cells.get((name, d.value), 0)) for d in domains],
                        total=Cell(department.subtotal if department else None, row_totals.get(name, 0))))
    unassigned = Row(key=UNASSIGNED, label=_("未设主管部门"), in_plan=False,
                     cells=[Cell(None, cells.get((UNASSIGNED, d.value), 0)) for d in domains],
                     total=Cell(None, row_totals.get(UNASSIGNED, 0)))
    planned_total = sum((d.subtotal for d in plan.departments), Decimal(0)) if plan else None
    totals = []
    for i, domain in enumerate(domains):
        column = [t.target for d in plan.departments for t in d.targets if t.domain == domain] if plan else []
        totals.append(Cell(sum(column, Decimal(0)) if plan else None,
                           sum(r.cells[i].trained for r in rows) + unassigned.cells[i].trained))
    scopes = scope_choices(actor)
    plan_years = set(db.session.scalars(select(Plan.year).where(Plan.scope.in_((scope, NATIONAL)))))
    years = sorted({*plan_years, year, local_date(utcnow_naive()).year}, reverse=True)
    return Board(year=year, scope=scope, scope_label=scope_label(scope), plan=plan, domains=domains, rows=rows,
                 totals=totals, grand=Cell(planned_total, everyone), unassigned=unassigned, scopes=scopes,
                 years=years)


# ---------------------------------------------------------------- behind a cell

@dataclass
class CellDetail:
    year: int
    scope: str
    scope_label: str
    department: str  # "" for the unassigned
    department_label: str
    domain: Domain | None  # None: every domain (a department's total)
    cell: Cell
    units: list[tuple]  # (name, credit code or None, people), most people first
    courses: list[tuple]  # (course code, title, people)


def cell_detail(actor, *, scope: str | None = None, year=None, department: str = "", domain: str = "") -> CellDetail:
    """The units and courses behind one cell of :func:`fulfilment` (the same scope and counting)."""
    scope = authorize_scope(actor, scope)
    year = _year(year, scope)
    department = " ".join((department or "").split())
    chosen = None
    if domain:
        try:
            chosen = Domain(domain)
        except ValueError:
            raise NotFound(_("没有这个领域。")) from None
    rec = _counting_records(year, scope)
    where = [rec.c.department == department]
    if chosen is not None:
        where.append(rec.c.domain == chosen.value)
    people = func.count(distinct(rec.c.user_id))
    units = [(name or _("（无确认单位的学员）"), code, n) for name, code, n in db.session.execute(
        select(Organization.name, Organization.credit_code, people).select_from(rec)
        .outerjoin(Organization, Organization.id == rec.c.unit_id).where(*where)
        .group_by(Organization.id, Organization.name, Organization.credit_code)
        .order_by(people.desc(), Organization.name))]
    title = (select(Course.title).where(Course.code == rec.c.course_code).order_by(Course.version.desc())
             .limit(1).correlate(rec).scalar_subquery())
    courses = [tuple(r) for r in db.session.execute(
        select(rec.c.course_code, title, people).where(*where).group_by(rec.c.course_code)
        .order_by(people.desc(), rec.c.course_code))]
    trained = db.session.scalar(select(people).where(*where)) or 0
    plan = plan_for(year, scope)
    target = None
    if plan is not None:
        dep = next((d for d in plan.departments if d.name == department), None)
        if dep is not None:
            target = dep.subtotal if chosen is None else next(
                (t.target for t in dep.targets if t.domain == chosen.value), None)
    return CellDetail(year=year, scope=scope, scope_label=scope_label(scope), department=department,
                      department_label=_("其他") if department == OTHER_DEPARTMENT else (department or _("未设主管部门")), domain=chosen, cell=Cell(target, trained),
                      units=units, courses=courses)


# ---------------------------------------------------------------- the XLSX file

def fulfilment_file_name(board: Board) -> str:
    return _("计划完成情况-%(scope)s-%(year)s.xlsx", scope=board.scope_label, year=board.year)


def write_fulfilment_xlsx(board: Board) -> bytes:
    """The table as a workbook: one sheet each for targets (万人), people trained and ratios."""
    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False,
                                         "strings_to_urls": False, "strings_to_numbers": False})
    bold = workbook.add_format({"bold": True})
    percent = workbook.add_format({"num_format": "0.0%"})
    sheets = ((_("目标（万人）"), lambda c: c.target, None), (_("已培训（人）"), lambda c: c.trained, None),
              (_("完成率"), lambda c: c.ratio, percent))
    all_rows = [*board.rows, board.unassigned]
    for title, value_of, fmt in sheets:
        sheet = workbook.add_worksheet(title)
        sheet.set_column(0, 0, 22)
        sheet.set_column(1, len(board.domains) + 1, 12)
        sheet.write_string(0, 0, _("%(scope)s · %(year)s 年度", scope=board.scope_label, year=board.year), bold)
        sheet.write_string(1, 0, _("部门"), bold)
        for col, domain in enumerate(board.domains, 1):
            sheet.write_string(1, col, domain.label, bold)
        sheet.write_string(1, len(board.domains) + 1, _("小计"), bold)
        lines = [(r.label, r.cells, r.total) for r in all_rows] + [(_("合计"), board.totals, board.grand)]
        for n, (label, cells, total) in enumerate(lines, 2):
            sheet.write_string(n, 0, label)
            for col, cell in enumerate([*cells, total], 1):
                value = value_of(cell)
                if value is not None:
                    sheet.write_number(n, col, float(value), fmt)
        sheet.freeze_panes(2, 1)
    workbook.close()
    return out.getvalue()
