"""The completion records an employer or HR bureau may read: who may read which, one query for all.

Every reader (the unit admin's and HR auditor's pages, file exports, the HR API, the CLI) goes
through :func:`scope_for` (a person) or :func:`scope_of_client` (an API client), then
:func:`record_query`. A :class:`Scope` is what the reader may see: one unit, one region, or (an
admin, the CLI) everything; narrowing filters are checked against it, never widened by them.
"""

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import and_, exists, select
from sqlalchemy.orm import aliased

from ..accounts import crypto
from ..accounts.identifiers import lookup_code
from ..accounts.models import EmploymentStatus, Organization, Region, Role, User
from ..catalog.models import CATEGORY_LABELS, Category
from ..certificates import services as certificates
from ..certificates.credentials import base_url
from ..certificates.models import Certificate, CertificateKind
from ..core.clock import iso_utc, local_date
from ..core.enums import N_
from ..core.errors import InvalidInput, NotAllowed
from ..credits.models import CreditOrigin, CreditRecord, EntryKind
from ..extensions import db
from ..learning.models import Enrollment

# The export columns, exactly and in this order (ARCHITECTURE §7).
COLUMNS = ("姓名", "身份证号", "工作单位", "统一社会信用代码", "地区", "年度", "科目类别", "课程编号", "课程名称",
           "学时", "开始日期", "完成日期", "考试成绩", "证书编号", "验证网址")

# After the fixed columns, documented extra ones: where the hours came from (the origin's fixed wording,
# e.g. 在线课程, 学时登记). Readers that count columns by position keep working on the first 15.
EXTRA_COLUMNS = ("学时来源",)
HEADER = COLUMNS + EXTRA_COLUMNS

# The label of the scope that holds every record (admins, the CLI): translated where a request shows it.
EVERYTHING = N_("全部单位和地区")


@dataclass(frozen=True)
class Scope:
    """What a reader may see. ``organization_id`` and ``region_code`` both None: every record."""

    organization_id: int | None = None
    region_code: str | None = None
    full_id_numbers: bool = False
    label: str = EVERYTHING

    def filters(self) -> dict:
        """For the audit log."""
        return {"organization_id": self.organization_id, "region_code": self.region_code,
                "full_id_numbers": self.full_id_numbers}


def organization_by_code(code: str) -> Organization:
    code = lookup_code(code, _("统一社会信用代码"), field="unit")
    org = db.session.scalar(select(Organization).where(Organization.credit_code == code)) if code else None
    if org is None:
        raise InvalidInput(_("没有登记统一社会信用代码为 %(code)s 的单位。请核对 18 位代码。",
                             code=code or _("（空）")), field="unit")
    return org


def region_by_code(code: str) -> Region:
    code = (code or "").strip()
    region = db.session.get(Region, code) if code else None
    if region is None:
        raise InvalidInput(_("地区代码 %(code)s 不正确，应为 6 位行政区划代码，如 110000。", code=code or _("（空）")),
                           field="region")
    return region


def narrow(scope: Scope, *, unit: str | None = None, region: str | None = None) -> Scope:
    """The scope limited to a unit (credit code) and/or a region (code), refused if that leaves it."""
    if region:
        reg = region_by_code(region)
        if scope.region_code is not None and reg.code != scope.region_code:
            raise NotAllowed(_("您只能查看%(scope)s的记录，不能查看地区 %(code)s。", scope=scope.label, code=reg.code))
        scope = replace(scope, region_code=reg.code, label=reg.name if scope.organization_id is None else scope.label)
    if unit:
        org = organization_by_code(unit)
        if scope.organization_id is not None and org.id != scope.organization_id:
            raise NotAllowed(_("您只能查看%(scope)s的记录，不能查看单位 %(code)s。", scope=scope.label,
                               code=org.credit_code))
        scope = replace(scope, organization_id=org.id, label=org.name)
    return scope


def may_see_full_id_numbers(user) -> bool:
    """HR auditors and admins may read full ID numbers (each such read or export is audited)."""
    return user.has_role(Role.ADMIN) or user.has_role(Role.HR_AUDITOR)


def scope_for(actor, *, unit: str | None = None, region: str | None = None, full_id_numbers: bool = False) -> Scope:
    """The records a person may read, narrowed to a unit or region they choose.

    Admins read everything; an HR auditor their region(s); a unit admin their unit(s). Someone with
    several grants must choose one unless only one applies. Full ID numbers: auditors and admins."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise NotAllowed(_("请先登录。"))
    if full_id_numbers and not may_see_full_id_numbers(actor):
        raise NotAllowed(_("只有人社审核人员和平台管理员可以导出完整身份证号。"))
    if actor.has_role(Role.ADMIN):
        return narrow(Scope(full_id_numbers=full_id_numbers, label=_(EVERYTHING)), unit=unit, region=region)
    fitting = _narrowed(_granted_scopes(actor, full_id_numbers), unit=unit, region=region)
    if full_id_numbers:  # asked for full ID numbers: only a grant that allows them will do
        fitting = [s for s in fitting if s.full_id_numbers]
        if not fitting:
            raise NotAllowed(_("您在所选范围内的权限不能导出完整身份证号（只有人社审核人员和平台管理员可以）。"))
    return _the_one_meant(fitting, unit=unit, region=region)


def _granted_scopes(actor, full_id_numbers: bool) -> list[Scope]:
    """One scope per grant: each region the actor audits, each unit they administer."""
    scopes = [Scope(region_code=grant.region_code, label=grant.region.name, full_id_numbers=full_id_numbers)
              for grant in actor.grants_for(Role.HR_AUDITOR) if grant.region is not None]
    scopes += [Scope(organization_id=grant.organization_id, label=grant.organization.name)
               for grant in actor.grants_for(Role.UNIT_ADMIN) if grant.organization is not None]
    if not scopes:
        raise NotAllowed(_("只有单位管理员、人社审核人员和平台管理员可以查看学时记录。"))
    return scopes


def _narrowed(scopes: list[Scope], *, unit: str | None, region: str | None) -> list[Scope]:
    """The scopes that the chosen unit or region fits in, each narrowed to it (no duplicates); when
    none does, the refusal of the last."""
    refused: NotAllowed | None = None
    fitting = []
    for scope in scopes:
        try:
            fitting.append(narrow(scope, unit=unit, region=region))
        except NotAllowed as exc:
            refused = exc
    if not fitting:
        raise refused or NotAllowed(_("您无权查看这些记录。"))
    return list(dict.fromkeys(fitting))


def _the_one_meant(fitting: list[Scope], *, unit: str | None, region: str | None) -> Scope:
    """Of several fitting scopes, the unit grant when a unit was chosen (e.g. the unit's own admin who
    also audits its region), the region grant when a region was; still several: ask to choose."""
    if len(fitting) > 1 and unit:
        fitting = [s for s in fitting if s.region_code is None] or fitting
    elif len(fitting) > 1 and region:
        fitting = [s for s in fitting if s.organization_id is None] or fitting
    if len(fitting) > 1:
        raise InvalidInput(_("您管理多个单位或地区，请选择其中一个。"), field="unit")
    return fitting[0]


def scope_of_client(client) -> Scope:
    """An API client's fixed scope (set when it was issued)."""
    if client.organization_id is not None:
        label = client.organization.name if client.organization else _("单位 #%(id)s", id=client.organization_id)
    elif client.region_code is not None:
        label = client.region.name if client.region else client.region_code
    else:
        raise NotAllowed(_("此接口凭证没有限定单位或地区，已停用。请联系签发人重新签发。"))
    return Scope(organization_id=client.organization_id, region_code=client.region_code,
                 full_id_numbers=client.full_id_numbers, label=label)


def _voiding():
    return aliased(CreditRecord)


def record_query(scope: Scope, *, year: int | None = None, active_only: bool = True,
                 after_id: int | None = None, created_since: datetime | None = None):
    """A Core SELECT of ledger entries in ``scope``, ordered by id, one row per entry.

    ``active_only``: only entries that count now (exports); otherwise every entry, corrections and
    revocations included, each with ``voided_by_id`` (what HR systems sync). Columns are labelled;
    :func:`export_row` turns a row into the export columns."""
    voiding = _voiding()
    certificate_number = (select(Certificate.number)
                          .where(Certificate.credit_record_id == CreditRecord.id,
                                 Certificate.kind == CertificateKind.COURSE)
                          .order_by(Certificate.id.desc()).limit(1).scalar_subquery())
    voided_by = select(voiding.id).where(voiding.voids_id == CreditRecord.id).scalar_subquery()
    query = (
        select(CreditRecord.id, CreditRecord.entry_kind, CreditRecord.voids_id, voided_by.label("voided_by_id"),
               CreditRecord.created_at, CreditRecord.user_id, User.real_name, User.id_number_masked,
               User.id_number_encrypted, Organization.name.label("unit_name"),
               Organization.credit_code.label("unit_credit_code"), User.region_code, Region.name.label("region_name"),
               CreditRecord.credit_year, CreditRecord.category, CreditRecord.course_code,
               CreditRecord.course_version, CreditRecord.course_title, CreditRecord.hours,
               Enrollment.enrolled_at.label("started_at"), CreditRecord.completed_at, CreditRecord.exam_score,
               certificate_number.label("certificate_number"), CreditRecord.reason, CreditRecord.origin,
               CreditRecord.activity_kind)
        .join(User, User.id == CreditRecord.user_id)
        .outerjoin(Organization, and_(Organization.id == User.employer_id,
                                      User.employment_status == EmploymentStatus.APPROVED))
        .outerjoin(Region, Region.code == User.region_code)
        .outerjoin(Enrollment, and_(Enrollment.user_id == CreditRecord.user_id,
                                    Enrollment.course_id == CreditRecord.course_id))
        .order_by(CreditRecord.id)
    )
    if scope.organization_id is not None:
        # An employer sees the records of the people it has approved as its employees.
        query = query.where(User.employer_id == scope.organization_id,
                            User.employment_status == EmploymentStatus.APPROVED)
    if scope.region_code is not None:
        query = query.where(User.region_code == scope.region_code)
    if year is not None:
        query = query.where(CreditRecord.credit_year == year)
    if active_only:
        query = query.where(CreditRecord.entry_kind != EntryKind.REVOCATION,
                            ~exists().where(voiding.voids_id == CreditRecord.id))
    if after_id is not None:
        query = query.where(CreditRecord.id > after_id)
    if created_since is not None:
        query = query.where(CreditRecord.created_at >= created_since)
    return query


# ---------------------------------------------------------------- one row as the export columns

def category_label(value: str) -> str:
    try:
        return CATEGORY_LABELS[Category(value)]
    except ValueError:
        return value


def id_number(row, full: bool) -> str:
    return crypto.decrypt(row.id_number_encrypted) if full else row.id_number_masked


def verify_url(number: str | None) -> str:
    if not number:
        return ""
    return certificates.verify_url(number)


def origin_label(value: str) -> str:
    """The origin's fixed Chinese wording (as exports write it)."""
    try:
        return CreditOrigin(value).source_label
    except ValueError:
        return value


def export_row(row, *, full_id_numbers: bool, zone: ZoneInfo | None = None) -> list:
    """The 15 export columns (:data:`COLUMNS`) of one row of :func:`record_query`, then the extra ones
    (:data:`EXTRA_COLUMNS`): :data:`HEADER` in all.

    Dates are local calendar dates (:class:`datetime.date`, written as dates by each format); hours
    and the year are numbers; empty values are ''."""
    started = local_date(row.started_at, zone)
    completed = local_date(row.completed_at, zone)
    return [
        row.real_name,
        id_number(row, full_id_numbers),
        row.unit_name or "",
        row.unit_credit_code or "",
        row.region_name or "",
        row.credit_year,
        category_label(row.category),
        row.course_code or "",
        row.course_title,
        Decimal(row.hours),
        started or "",
        completed or "",
        row.exam_score if row.exam_score is not None else "",
        row.certificate_number or "",
        verify_url(row.certificate_number),
        origin_label(row.origin),
    ]


# ---------------------------------------------------------------- one row as JSON (HR API, webhooks)

def credential_url(number: str | None) -> str | None:
    if not number:
        return None
    return f"{base_url()}/api/v1/credentials/{number}"


def record_json(row, *, full_id_numbers: bool, credential_links: bool | None = None,
                zone: ZoneInfo | None = None) -> dict:
    """A ledger entry (a row of :func:`record_query` with ``active_only=False``) as the HR API and
    webhooks send it. ``counts``: whether the entry counts now (not voided, not a revocation).

    ``credential_links``: whether ``credential_url`` is given (else null): only readers that may fetch
    the signed credential, which identifies the person; by default those granted full ID numbers."""
    if credential_links is None:
        credential_links = full_id_numbers
    started = local_date(row.started_at, zone)
    completed = local_date(row.completed_at, zone)
    return {
        "id": row.id,
        "entry_kind": row.entry_kind,
        "counts": row.entry_kind != EntryKind.REVOCATION and row.voided_by_id is None,
        "voids_id": row.voids_id,
        "voided_by_id": row.voided_by_id,
        "reason": row.reason,
        "learner": {"name": row.real_name, "id_number": id_number(row, full_id_numbers),
                    "id_number_masked": not full_id_numbers},
        "unit": ({"name": row.unit_name, "credit_code": row.unit_credit_code} if row.unit_credit_code else None),
        "region": ({"code": row.region_code, "name": row.region_name} if row.region_code else None),
        "credit_year": row.credit_year,
        "category": row.category,
        "category_label": category_label(row.category),
        "origin": row.origin,
        "origin_label": origin_label(row.origin),
        "activity_kind": row.activity_kind,
        "course": {"code": row.course_code, "version": row.course_version, "title": row.course_title},
        "hours": float(row.hours),
        "started_on": started.isoformat() if started else None,
        "completed_on": completed.isoformat() if completed else None,
        "completed_at": iso_utc(row.completed_at),
        "exam_score": row.exam_score,
        "certificate_number": row.certificate_number,
        "verification_url": verify_url(row.certificate_number) or None,
        "credential_url": credential_url(row.certificate_number) if credential_links else None,
        "recorded_at": iso_utc(row.created_at),
    }
