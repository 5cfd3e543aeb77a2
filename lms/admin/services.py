"""The admin console: find people, change their roles and accounts, give exam attempts back, read
and export the audit log.

Every function takes the acting admin and refuses anyone else. The changes themselves are the
account and exam services that the CLI calls too (``flask users grant/revoke/disable/enable``):
the console only finds the objects, checks that they belong together and asks for a reason, which
the audit event keeps with the actor and the object. The rule that the platform keeps at least one
enabled admin lives in :mod:`lms.accounts.services`, so it holds whichever door a change comes
through. Functions only flush; the caller commits.
"""

import contextlib
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import xlsxwriter
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from ..accounts import crypto
from ..accounts import services as accounts
from ..accounts.identifiers import IdentifierError, normalize_credit_code, normalize_id_number, normalize_mobile
from ..accounts.models import (
    OPTIONAL_REGION_ROLES,
    ORG_ROLES,
    REGION_ROLES,
    ROLE_ORG_KINDS,
    Organization,
    OrgKind,
    Role,
    RoleGrant,
    User,
)
from ..accounts.sessions import live_sessions
from ..core.audit import AuditEvent, record_event
from ..core.clock import local_zone
from ..core.errors import InvalidInput, NotAllowed, NotFound
from ..exports.services import csv_cell
from ..extensions import db
from ..learning import exam
from ..learning.models import Enrollment, QuizAttempt

PEOPLE_PAGE_SIZE = 30
AUDIT_PAGE_SIZE = 50
AUDIT_YEARS = (1900, 2999)  # the dates a filter takes

# What the audit log's actions mean, in the words of the filter and the export.
ACTION_LABELS = {
    "user.created": _l("创建账号"), "user.disabled": _l("停用账号"), "user.enabled": _l("启用账号"),
    "user.password_changed": _l("修改密码"), "user.password_reset": _l("重置密码"),
    "user.sessions_ended": _l("退出所有设备"), "role.granted": _l("授予角色"), "role.revoked": _l("撤销角色"),
    "exam.attempts_reset": _l("重置测验次数"), "notice.published": _l("发布通知"),
    "notice.updated": _l("修改通知"), "notice.withdrawn": _l("撤回通知"), "audit.exported": _l("导出审计日志"),
    "employment.approved": _l("确认单位人员"), "employment.rejected": _l("未通过单位审核"),
    "federation.shared": _l("共享课程"), "federation.unshared": _l("停止共享课程"),
    "federation.token_issued": _l("签发订阅令牌"), "federation.token_revoked": _l("吊销订阅令牌"),
    "federation.archive_served": _l("向订阅方提供课程包"), "federation.subscribed": _l("订阅课程共享"),
    "federation.unsubscribed": _l("取消订阅课程共享"), "federation.token_replaced": _l("更换订阅令牌"), "federation.key_pinned": _l("确认订阅方的新签名密钥"),
    "federation.imported": _l("导入订阅的课程"), "federation.entry_rejected": _l("拒绝订阅的课程"),
    "plan.imported": _l("导入计划表"), "unit.department_set": _l("设置主管部门"),
}


def _admin(actor) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.has_role(Role.ADMIN) \
            or not actor.is_active_account:
        raise NotAllowed(_("只有平台管理员可以使用管理后台。"))


def action_label(action: str) -> str:
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else action


@dataclass(frozen=True)
class Page:
    items: list
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _page_number(value) -> int:
    try:
        return max(1, int(value or 1))
    except (TypeError, ValueError):
        return 1


def _paged(query, page, per_page: int) -> Page:
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(_page_number(page), pages)
    items = list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).unique())
    return Page(items=items, total=total, page=page, per_page=per_page)


# ---------------------------------------------------------------- people

@dataclass(frozen=True)
class PeopleFilter:
    """What the search box and its selects say. ``q``: a name (or part), a full ID number, a masked
    one as shown (110105********0011) or its last digits, a mobile (or part), an e-mail, a unit's name
    or credit code."""

    q: str = ""
    role: str = ""
    state: str = ""  # "", "active", "disabled"


def _people_conditions(q: str) -> list:
    q = " ".join(q.split())[:60]
    if not q:
        return []
    like = f"%{q.replace('%', '').replace('_', '')}%"
    found = [User.real_name.ilike(like), User.email.ilike(like), User.mobile.like(like),
             User.id_number_masked.like(like.upper()), Organization.name.ilike(like)]
    for normalize, column in ((normalize_id_number, None), (normalize_mobile, User.mobile),
                              (normalize_credit_code, Organization.credit_code)):
        with contextlib.suppress(IdentifierError):
            value = normalize(q)
            found.append(User.id_number_hash == crypto.lookup_hash(value) if column is None else column == value)
    return [or_(*found)]


def find_people(actor, filters: PeopleFilter, *, page=1) -> Page:
    """People matching the filter, by name, a page at a time, with their grants and units loaded."""
    _admin(actor)
    query = (select(User).outerjoin(Organization, Organization.id == User.employer_id)
             .where(*_people_conditions(filters.q))
             .options(selectinload(User.role_grants).selectinload(RoleGrant.organization),
                      selectinload(User.role_grants).selectinload(RoleGrant.region),
                      selectinload(User.employer)))
    if filters.role in {r.value for r in Role}:
        query = query.where(select(RoleGrant.id).where(RoleGrant.user_id == User.id, RoleGrant.role == filters.role)
                            .exists())
    if filters.state == "active":
        query = query.where(User.is_active_account.is_(True))
    elif filters.state == "disabled":
        query = query.where(User.is_active_account.is_(False))
    return _paged(query.order_by(User.real_name, User.id), page, PEOPLE_PAGE_SIZE)


@dataclass
class ExamRecord:
    enrollment: Enrollment
    counted: int  # submitted attempts that count against the limit
    allowed: int
    reset: int  # attempts an admin reset
    passed: bool


@dataclass
class PersonView:
    user: User
    sessions: int
    exams: list[ExamRecord] = field(default_factory=list)
    events: list[AuditEvent] = field(default_factory=list)


def get_person(actor, user_id: int) -> User:
    _admin(actor)
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("没有找到这个账号。"))
    return user


def person_view(actor, user: User) -> PersonView:
    """What the person page shows: roles, account state, exams with their attempts, recent events."""
    _admin(actor)
    attempts = {}
    for attempt in db.session.scalars(select(QuizAttempt).where(QuizAttempt.user_id == user.id)):
        attempts.setdefault(attempt.enrollment_id, []).append(attempt)
    exams = []
    enrollments = db.session.scalars(select(Enrollment).where(Enrollment.user_id == user.id)
                                     .options(selectinload(Enrollment.course)).order_by(Enrollment.enrolled_at.desc()))
    for enrollment in enrollments:
        mine = attempts.get(enrollment.id, [])
        if not mine:
            continue
        counted = [a for a in exam.counted(mine) if a.submitted_at is not None]
        exams.append(ExamRecord(enrollment=enrollment, counted=len(counted),
                                allowed=exam.exam_rules(user, enrollment.course).attempts,
                                reset=sum(a.reset_at is not None for a in mine),
                                passed=any(a.passed for a in mine)))
    events = list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.target_type == "User", AuditEvent.target_id == str(user.id))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(10)))
    return PersonView(user=user, sessions=len(live_sessions(user)), exams=exams, events=events)


def _organization_for(role: Role, named: str) -> Organization:
    named = " ".join((named or "").split())
    if not named:
        raise InvalidInput(_("授予“%(label)s”角色时必须指定机构：请填写机构全称或统一社会信用代码。", label=role.label),
                           field="organization")
    kinds = ROLE_ORG_KINDS[role]
    kind = kinds[0]
    try:
        query = select(Organization).where(Organization.credit_code == normalize_credit_code(named))
    except IdentifierError:
        query = select(Organization).where(Organization.name == named)
    # By name, one of the right kind first; one of another kind only to say why it will not do.
    org = db.session.scalars(query.order_by(Organization.kind.not_in(kinds), Organization.id)).first()
    if org is None:
        raise NotFound(_("找不到机构“%(name)s”。请填写已登记的机构全称或统一社会信用代码。", name=named), field="organization")
    if org.kind not in kinds:
        expected = _("课件发布机构") if kind == OrgKind.PUBLISHER else _("用人单位")
        raise InvalidInput(_("“%(name)s”不是%(kind)s，不能为它授予“%(label)s”角色。", name=org.name, kind=expected,
                             label=role.label), field="organization")
    return org


def grant_role(actor, user: User, role: str, *, organization: str = "", region_code: str = "",
               reason: str = "") -> RoleGrant:
    """Grant a role from the console: the organization named (by full name or credit code) for the
    roles that act for one, the region for those that act for one; nothing of the sort otherwise."""
    _admin(actor)
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput(_("请选择要授予的角色。"), field="role") from None
    reason = accounts.clean_reason(reason)
    org = _organization_for(role, organization) if role in ORG_ROLES else None
    region = (region_code or None) if role in REGION_ROLES | OPTIONAL_REGION_ROLES else None
    already = {g.id for g in user.role_grants}
    grant = accounts.grant_role(actor, user, role, organization=org, region_code=region, reason=reason)
    if grant.id in already:
        raise InvalidInput(_("%(name)s 已有该角色，无需再次授予。", name=user.real_name), field="role")
    return grant


def revoke_role(actor, user: User, grant_id: int, *, reason: str) -> RoleGrant:
    _admin(actor)
    grant = next((g for g in user.role_grants if g.id == grant_id), None)
    if grant is None:
        raise NotFound(_("没有找到这项角色授权，它可能已被撤销。"))
    accounts.revoke_role(actor, grant, reason=accounts.clean_reason(reason))
    return grant


def disable_account(actor, user: User, *, reason: str) -> int:
    _admin(actor)
    return accounts.disable_account(actor, user, reason=reason)


def enable_account(actor, user: User, *, reason: str) -> None:
    _admin(actor)
    accounts.enable_account(actor, user, reason=reason)


def enrollment_of(user: User, course_code: str) -> Enrollment:
    """The person's enrolment in a course, by its code (the command line names courses so)."""
    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.user_id == user.id,
                                                            Enrollment.course_code == (course_code or "").strip().upper()))
    if enrollment is None:
        raise NotFound(_("%(name)s 没有报名课程 %(code)s。", name=user.real_name, code=course_code))
    return enrollment


def reset_exam_attempts(actor, user: User, enrollment_id: int, *, reason: str) -> int:
    """Give a learner their attempts at one course's exam back (see :func:`lms.learning.exam.reset_attempts`)."""
    _admin(actor)
    reason = accounts.clean_reason(reason)
    enrollment = db.session.get(Enrollment, enrollment_id)
    if enrollment is None or enrollment.user_id != user.id:
        raise NotFound(_("没有找到该学员的这门课程。"))
    return exam.reset_attempts(actor, enrollment, reason=reason)


# ---------------------------------------------------------------- the audit log

@dataclass(frozen=True)
class AuditFilter:
    """Who (a name, a mobile or ``#id``), what (an action), when (local dates, both included) and
    which object (type, and id)."""

    who: str = ""
    action: str = ""
    since: date | None = None
    until: date | None = None
    target_type: str = ""
    target_id: str = ""

    def args(self) -> dict:
        """The filter as query-string arguments (for the export link and the pager)."""
        values = {"who": self.who, "action": self.action, "since": self.since.isoformat() if self.since else "",
                  "until": self.until.isoformat() if self.until else "", "target_type": self.target_type,
                  "target_id": self.target_id}
        return {k: v for k, v in values.items() if v}


def parse_audit_filter(args) -> AuditFilter:
    """The filter from a query string; a date that is not one is refused with the field it is in."""
    dates = {}
    for name, label in (("since", _("开始日期")), ("until", _("结束日期"))):
        raw = (args.get(name) or "").strip()
        try:
            dates[name] = date.fromisoformat(raw) if raw else None
        except ValueError:
            raise InvalidInput(_("%(label)s应为日期，如 2026-11-30。", label=label), field=name) from None
        if dates[name] and not AUDIT_YEARS[0] <= dates[name].year <= AUDIT_YEARS[1]:  # 0001, 9999: no UTC day
            raise InvalidInput(_("%(label)s应在 %(first)s 年到 %(last)s 年之间。", label=label, first=AUDIT_YEARS[0],
                                 last=AUDIT_YEARS[1]), field=name)
    if dates["since"] and dates["until"] and dates["until"] < dates["since"]:
        raise InvalidInput(_("结束日期不能早于开始日期。"), field="until")
    return AuditFilter(who=(args.get("who") or "").strip()[:60], action=(args.get("action") or "").strip()[:64],
                       target_type=(args.get("target_type") or "").strip()[:32],
                       target_id=(args.get("target_id") or "").strip()[:64], **dates)


def _utc(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=local_zone()).astimezone(UTC).replace(tzinfo=None)


def _who(who: str):
    if who.startswith("#") and who[1:].isdigit():
        return AuditEvent.actor_id == int(who[1:])
    actors = select(User.id).where(or_(User.real_name == who, User.mobile == who, User.email == who.lower()))
    return AuditEvent.actor_id.in_(actors)


def audit_query(filters: AuditFilter):
    query = select(AuditEvent)
    if filters.who:
        query = query.where(_who(filters.who))
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.since:
        query = query.where(AuditEvent.at >= _utc(filters.since))
    if filters.until:
        query = query.where(AuditEvent.at < _utc(filters.until + timedelta(days=1)))
    if filters.target_type:
        query = query.where(AuditEvent.target_type == filters.target_type)
    if filters.target_id:
        query = query.where(AuditEvent.target_id == filters.target_id)
    return query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())


@dataclass(frozen=True)
class AuditChoices:
    actions: list  # (action, label)
    target_types: list


def audit_choices(actor) -> AuditChoices:
    _admin(actor)
    actions = sorted(set(db.session.scalars(select(AuditEvent.action).distinct())) | set(ACTION_LABELS))
    types = sorted(t for t in db.session.scalars(select(AuditEvent.target_type).distinct()) if t)
    return AuditChoices(actions=[(a, action_label(a)) for a in actions], target_types=types)


@dataclass(frozen=True)
class AuditRow:
    event: AuditEvent
    actor: User | None
    target: User | None  # the person, when the object is one

    @property
    def detail_text(self) -> str:
        """The detail as stored (JSON), for the export."""
        return json.dumps(self.event.detail or {}, ensure_ascii=False, sort_keys=True)

    @property
    def detail_pairs(self) -> list[tuple[str, str]]:
        """The detail's filled-in entries, for the page."""
        return [(key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
                for key, value in sorted((self.event.detail or {}).items()) if value not in (None, "", [], {})]


def _rows(events: list[AuditEvent]) -> list[AuditRow]:
    ids = {e.actor_id for e in events if e.actor_id} | {
        int(e.target_id) for e in events if e.target_type == "User" and (e.target_id or "").isdigit()}
    people = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    return [AuditRow(e, people.get(e.actor_id),
                     people.get(int(e.target_id)) if e.target_type == "User" and (e.target_id or "").isdigit() else None)
            for e in events]


def audit_page(actor, filters: AuditFilter, *, page=1) -> Page:
    """One page of the log, newest first, with the people it names loaded in one query."""
    _admin(actor)
    found = _paged(audit_query(filters), page, AUDIT_PAGE_SIZE)
    return Page(items=_rows(found.items), total=found.total, page=found.page, per_page=found.per_page)


EXPORT_COLUMNS = (_l("时间"), _l("操作人"), _l("操作人编号"), _l("操作"), _l("操作代码"), _l("对象类型"),
                  _l("对象编号"), _l("对象"), _l("详情"), _l("IP 地址"))
EXPORT_FORMATS = ("csv", "xlsx")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
_CHUNK = 1000


def _export_rows(filters: AuditFilter) -> Iterator[list]:
    """Every event the filter selects as export cells, a chunk at a time (keyset on id, newest first)."""
    last = None
    while True:
        query = audit_query(filters).order_by(None).order_by(AuditEvent.id.desc()).limit(_CHUNK)
        if last is not None:
            query = query.where(AuditEvent.id < last)
        events = list(db.session.scalars(query))
        for row in _rows(events):
            e = row.event
            at = e.at.replace(tzinfo=UTC).astimezone(local_zone()).replace(tzinfo=None)
            yield [at, row.actor.real_name if row.actor else _("系统"), e.actor_id, action_label(e.action), e.action,
                   e.target_type, e.target_id,
                   _("%(name)s（%(id)s）", name=row.target.real_name, id=row.target.id_number_masked)
                   if row.target else None,
                   row.detail_text, e.ip]
        if len(events) < _CHUNK:
            return
        last = events[-1].id


def export_file_name(fmt: str) -> str:
    return _("审计日志") + f".{fmt}"


def audit_export(actor, filters: AuditFilter, fmt: str, *, ip: str | None = None) -> int:
    """Record that ``actor`` exported the log with this filter (before the file is sent); returns
    how many events it holds."""
    _admin(actor)
    return record_audit_export(actor, filters, fmt, ip=ip)


def record_audit_export(actor, filters: AuditFilter, fmt: str, *, ip: str | None = None, via: str = "web") -> int:
    """The audit event of an export of the log (``actor`` None: the command line)."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(_("导出格式应为 CSV 或 XLSX。"), field="format")
    rows = db.session.scalar(select(func.count()).select_from(audit_query(filters).order_by(None).subquery())) or 0
    record_event(actor, "audit.exported", None, ip=ip, format=fmt, rows=rows, filter=filters.args(), via=via)
    db.session.flush()
    return rows


def iter_audit_csv(filters: AuditFilter) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([str(c) for c in EXPORT_COLUMNS])
    yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
    for n, row in enumerate(_export_rows(filters), 1):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([csv_cell(v.strftime("%Y-%m-%d %H:%M:%S") if isinstance(v, datetime) else v) for v in row])
        yield buffer.getvalue().encode("utf-8")
        if n % 500 == 0:
            db.session.expire_all()  # keep the identity map small on a long log


def write_audit_xlsx(filters: AuditFilter, out) -> int:
    """The log as an XLSX sheet: times as date cells, everything else as typed text or numbers."""
    workbook = xlsxwriter.Workbook(out, {"constant_memory": True, "strings_to_formulas": False,
                                         "strings_to_urls": False, "strings_to_numbers": False})
    n = 0
    try:
        sheet = workbook.add_worksheet(_("审计日志"))
        bold = workbook.add_format({"bold": True})
        when = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        for col, width in enumerate((20, 10, 10, 14, 22, 12, 10, 28, 60, 16)):
            sheet.set_column(col, col, width)
        for col, title in enumerate(EXPORT_COLUMNS):
            sheet.write_string(0, col, str(title), bold)
        sheet.freeze_panes(1, 0)
        for n, row in enumerate(_export_rows(filters), 1):
            for col, value in enumerate(row):
                if value is None or value == "":
                    continue
                if isinstance(value, datetime):
                    sheet.write_datetime(n, col, value, when)
                elif isinstance(value, int):
                    sheet.write_number(n, col, value)
                else:
                    sheet.write_string(n, col, str(value))
    finally:
        workbook.close()
    return n


