"""The training and evaluation institutions of the digital-technology engineer programme (seed
五(一)(二)(四)): a public, searchable directory in which each institution has an assigned code
(:mod:`lms.programme.institution_codes`), its fields of work, region, status and a dated history
of changes (动态调整: listed, suspended, restored, each with its reason).

Who changes the directory: admins and the national programme office list, suspend and restore any
institution; a regional programme office only those of its region. Everyone sees the directory and
each entry's history. Every change is audited (``institution.*``) and adds a line to the history.
Functions take the acting person, authorize them, and only flush; the caller commits.

Codes are assigned in order within kind and region (the highest sequence so far + 1, skipping a
sequence whose check character would be ``*``). Listings take one advisory lock (PostgreSQL; SQLite
has a single writer already), so two offices listing at the same instant are served one after the
other: the second gets the next code, or 409 when it lists the same institution (same kind and name
or credit code) as the first. Suspending and restoring lock the entry: of two at once, the second is
refused (409 "该机构当前已是…") and the public history shows one change.
"""

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from ..accounts.models import Region, Role
from ..accounts.services import IdentifierError, normalize_credit_code
from ..core.audit import record_event
from ..core.database import advisory_lock
from ..core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from ..extensions import db
from . import institution_codes
from .models import (
    DigitalField,
    Institution,
    InstitutionChange,
    InstitutionChangeKind,
    InstitutionKind,
    InstitutionStatus,
)
from .text import one_line

LISTED_ACTION = "institution.listed"
SUSPENDED_ACTION = "institution.suspended"
RESTORED_ACTION = "institution.restored"
# Any constant: the key of the PostgreSQL advisory lock that orders listings in the directory.
_DIRECTORY_LOCK_KEY = 0x6778696E73  # "gxins"


def _signed_in(actor) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise NotAllowed(_("请先登录。"))


def _national(actor) -> bool:
    return actor.has_role(Role.ADMIN) or any(g.region_code is None for g in actor.grants_for(Role.PROGRAMME_OFFICE))


def _regions(actor) -> set[str]:
    return {g.region_code for g in actor.grants_for(Role.PROGRAMME_OFFICE) if g.region_code}


def may_manage(actor) -> bool:
    return _national(actor) or bool(_regions(actor))


def can_change(actor, institution: Institution) -> bool:
    return _national(actor) or institution.region_code in _regions(actor)


def region_choices(actor) -> list[tuple[str, str]]:
    """The regions the actor may list institutions in (None: every region, for the public filter)."""
    query = select(Region).order_by(Region.code)
    if actor is not None and not _national(actor):
        query = query.where(Region.code.in_(_regions(actor)))
    return [(r.code, r.name) for r in db.session.scalars(query)]


# ---------------------------------------------------------------- listing, suspending, restoring

@dataclass(frozen=True)
class InstitutionData:
    kind: str
    name: str
    credit_code: str
    region_code: str
    fields: list[str]
    reason: str = ""


def _reason(value: str, *, required: bool) -> str:
    reason = one_line(value, "reason", _("原因"), limit=500)
    if required and len(reason) < 4:
        raise InvalidInput(_("请填写原因（至少 4 个字），原因将在公开的变更记录中显示。"), field="reason")
    return reason


def _next_code(kind: InstitutionKind, region_code: str) -> str:
    prefix = f"{kind.letter}{region_code}"
    last = db.session.scalar(select(func.max(Institution.code)).where(Institution.code.like(prefix + "%")))
    sequence = int(last[7:11]) if last else 0
    while True:
        sequence += 1
        if sequence > 9999:
            raise Conflict(_("该地区此类机构的代码已用完，请联系平台管理员。"))
        code = institution_codes.compose(kind.letter, region_code, sequence)
        if code is not None:
            return code


def list_institution(actor, data: InstitutionData) -> Institution:
    """Add an institution to the directory and assign its code."""
    _signed_in(actor)
    if not may_manage(actor):
        raise NotAllowed(_("只有项目办和平台管理员可以调整机构目录。"))
    try:
        kind = InstitutionKind(data.kind or "")
    except ValueError:
        raise InvalidInput(_("请从列表中选择。"), field="kind") from None
    name = one_line(data.name, "name", _("机构名称"), limit=120, minimum=1)
    credit_code = (data.credit_code or "").strip()
    if credit_code:
        try:
            credit_code = normalize_credit_code(credit_code)
        except IdentifierError as exc:
            raise InvalidInput(str(exc), field="credit_code") from None
    region_code = (data.region_code or "").strip()
    if db.session.get(Region, region_code) is None:
        raise InvalidInput(_("请选择机构所在地区。"), field="region_code")
    if not (_national(actor) or region_code in _regions(actor)):
        raise NotAllowed(_("地区项目办只能调整本地区的机构目录。"))
    try:
        fields = sorted({DigitalField(f) for f in data.fields or []}, key=list(DigitalField).index)
    except ValueError:
        raise InvalidInput(_("请从列表中选择工作领域。"), field="fields") from None
    if not fields:
        raise InvalidInput(_("请至少选择一个工作领域。"), field="fields")
    advisory_lock(_DIRECTORY_LOCK_KEY)  # listings one at a time: codes and the duplicate check see each other
    duplicate = select(Institution.code).where(Institution.kind == kind, or_(
        Institution.name == name, Institution.credit_code == credit_code if credit_code else False))
    existing = db.session.scalar(duplicate)
    if existing:
        raise Conflict(_("该机构已在目录中（机构代码 %(code)s）。", code=existing), field="name")
    reason = _reason(data.reason, required=False)
    institution = Institution(code=_next_code(kind, region_code), kind=kind, name=name,
                              credit_code=credit_code or None, region_code=region_code,
                              fields="," + ",".join(f.value for f in fields) + ",", status=InstitutionStatus.ACTIVE)
    db.session.add(institution)
    db.session.flush()
    db.session.add(InstitutionChange(institution_id=institution.id, kind=InstitutionChangeKind.LISTED,
                                     status=InstitutionStatus.ACTIVE, reason=reason))
    db.session.flush()
    record_event(actor, LISTED_ACTION, institution, code=institution.code, name=name, kind=str(kind),
                 region=region_code, fields=[f.value for f in fields], reason=reason)
    return institution


def _change(actor, institution: Institution, to: InstitutionStatus, kind: InstitutionChangeKind, action: str,
            reason: str) -> Institution:
    if not can_change(actor, institution):
        raise NotAllowed(_("地区项目办只能调整本地区的机构目录。"))
    institution = db.session.scalar(select(Institution).where(Institution.id == institution.id).with_for_update()
                                    .execution_options(populate_existing=True))
    if institution.status == to:
        raise Conflict(_("该机构当前已是“%(status)s”。", status=to.label))
    reason = _reason(reason, required=True)
    before = institution.status
    institution.status = to
    db.session.add(InstitutionChange(institution_id=institution.id, kind=kind, status=to, reason=reason))
    db.session.flush()
    record_event(actor, action, institution, code=institution.code, before=str(before), after=str(to), reason=reason)
    return institution


def suspend_institution(actor, institution: Institution, reason: str) -> Institution:
    return _change(actor, institution, InstitutionStatus.SUSPENDED, InstitutionChangeKind.SUSPENDED,
                   SUSPENDED_ACTION, reason)


def restore_institution(actor, institution: Institution, reason: str) -> Institution:
    return _change(actor, institution, InstitutionStatus.ACTIVE, InstitutionChangeKind.RESTORED,
                   RESTORED_ACTION, reason)


# ---------------------------------------------------------------- reading

def get_institution(code: str) -> Institution:
    """An entry by its code as typed; a malformed code or a wrong check character says so (400)."""
    try:
        code = institution_codes.parse(code)
    except institution_codes.CodeError as exc:
        raise InvalidInput(exc.message, field="code") from None
    institution = db.session.scalar(select(Institution).where(Institution.code == code))
    if institution is None:
        raise NotFound(_("目录中没有机构代码为 %(code)s 的机构。", code=code))
    return institution


@dataclass
class Search:
    q: str
    kind: str
    region: str
    field: str
    status: str
    results: list[Institution]
    code_problem: str | None = None  # the text looks like a code but is not a valid one: why


def search(*, q: str = "", kind: str = "", region: str = "", field: str = "", status: str = "",
           actor=None) -> Search:
    """The directory, searched by name or code (a code as typed, folded) and filtered; an unknown
    filter value matches nothing. ``actor`` (an office) narrows to the regions it may change."""
    q = " ".join((q or "").split())[:60]
    query = (select(Institution).options(selectinload(Institution.region))
             .order_by(Institution.kind, Institution.region_code, Institution.code))
    problem = None
    if q:
        if institution_codes.looks_like_code(q):
            try:
                query = query.where(Institution.code == institution_codes.parse(q))
            except institution_codes.CodeError as exc:
                problem = exc.message
                query = query.where(Institution.id.is_(None))
        else:
            pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(Institution.name.like(pattern, escape="\\"))
    if kind:
        query = query.where(Institution.kind == kind)
    if region:
        query = query.where(Institution.region_code == region)
    if field:
        known = field in {f.value for f in DigitalField}  # a known value: letters and "_" (escaped for LIKE)
        query = query.where(Institution.fields.like(f"%,{field.replace('_', '!_')},%", escape="!")
                            if known else Institution.id.is_(None))
    if status:
        query = query.where(Institution.status == status)
    if actor is not None and not _national(actor):
        query = query.where(Institution.region_code.in_(_regions(actor)))
    return Search(q=q, kind=kind, region=region, field=field, status=status,
                  results=list(db.session.scalars(query)), code_problem=problem)
