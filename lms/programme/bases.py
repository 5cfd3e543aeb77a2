"""Continuing-education bases (专业技术人员继续教育基地; seed 三 and 四(四)): the registry, each
base's yearly trained count against its minimum, annual evaluations with attachments, status
changes and withdrawal, and the public history.

Who manages which base: an admin and the national programme office (a grant without a region)
manage every base; a regional programme office manages the provincial bases of its region (not the
national bases, wherever they are); a base administrator (a BASE_ADMIN grant for the base's
organization) sees their own base and its evaluations, and changes nothing. Inspectors have no
standing access here (they see a base when a draw names it, issue 17 item 4). Everyone, signed in
or not, sees the public list and each base's public history (recognition, status changes,
evaluations' results, the withdrawal and its reason; never scores, evaluators or attachments).

People trained (年度培训人数) by a base in a year: the distinct learners with at least one credit
record of that credit year that counts (not revoked, not voided by a correction) for a course
published by the base's organization (``Course.publisher_id``), whatever the course's version and
wherever the learner lives. A learner who finished three of the base's courses counts once; one
who finished courses of two bases counts for each. The yearly minimum is ``LMS_BASE_MIN_NATIONAL``
(2,000) or ``LMS_BASE_MIN_PROVINCIAL`` (500) people; a base below it in a year is flagged.

Every change is audited (``base.*`` actions) and adds a line to the base's history. Functions take
the acting person, authorize them on the base, and only flush; the caller commits.
"""

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import distinct, exists, func, or_, select
from sqlalchemy.orm import aliased, selectinload

from ..accounts.models import Organization, OrgKind, Region, Role
from ..accounts.services import IdentifierError, normalize_credit_code
from ..catalog.models import Course
from ..core import attachments
from ..core.audit import record_event
from ..core.clock import local_date, utcnow_naive
from ..core.database import advisory_lock
from ..core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from ..credits.models import CreditRecord, EntryKind
from ..extensions import db
from .models import (
    BaseAttachment,
    BaseEvaluation,
    BaseEvent,
    BaseEventKind,
    BaseLevel,
    BaseStatus,
    ContinuingEducationBase,
    EvaluationResult,
)
from .services import check_year
from .text import one_line

REGISTERED_ACTION = "base.registered"
EVALUATED_ACTION = "base.evaluated"
STATUS_ACTION = "base.status_changed"
WITHDRAWN_ACTION = "base.withdrawn"
MAX_ATTACHMENTS = 5
# Any constant: the key of the PostgreSQL advisory lock that orders base registrations.
_REGISTRY_LOCK_KEY = 0x6778626173  # "gxbas"


# ---------------------------------------------------------------- who may do what

def _signed_in(actor) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise NotAllowed(_("请先登录。"))


def _national(actor) -> bool:
    return actor.has_role(Role.ADMIN) or any(g.region_code is None for g in actor.grants_for(Role.PROGRAMME_OFFICE))


def _regions(actor) -> set[str]:
    return {g.region_code for g in actor.grants_for(Role.PROGRAMME_OFFICE) if g.region_code}


def _own_organizations(actor) -> set[int]:
    return {g.organization_id for g in actor.grants_for(Role.BASE_ADMIN) if g.organization_id}


def can_manage(actor, base: ContinuingEducationBase) -> bool:
    return _national(actor) or (base.level == BaseLevel.PROVINCIAL and base.region_code in _regions(actor))


def can_view(actor, base: ContinuingEducationBase) -> bool:
    return can_manage(actor, base) or base.organization_id in _own_organizations(actor)


def may_register(actor) -> bool:
    return _national(actor) or bool(_regions(actor))


def _visible_clause(actor):
    """The bases ``actor`` may see on the management pages, as a WHERE clause (None: every base)."""
    if _national(actor):
        return None
    clauses = []
    regions = _regions(actor)
    if regions:
        clauses.append((ContinuingEducationBase.level == BaseLevel.PROVINCIAL)
                       & ContinuingEducationBase.region_code.in_(regions))
    own = _own_organizations(actor)
    if own:
        clauses.append(ContinuingEducationBase.organization_id.in_(own))
    return or_(*clauses) if clauses else ContinuingEducationBase.id.is_(None)


def lock_base(base: ContinuingEducationBase) -> ContinuingEducationBase:
    """``base`` locked for this transaction and read again: a change checks the status it was
    committed with, not the one read before another office's change (the loser gets 409)."""
    return db.session.scalar(select(ContinuingEducationBase).where(ContinuingEducationBase.id == base.id)
                             .with_for_update().execution_options(populate_existing=True))


def load_base(actor, base_id: int, *, manage: bool = False) -> ContinuingEducationBase:
    """The base, for someone who may see it (``manage``: change it); 404 when there is none, 403 otherwise."""
    _signed_in(actor)
    base = db.session.get(ContinuingEducationBase, base_id)
    if base is None:
        raise NotFound(_("没有这个继续教育基地。"))
    if manage and not can_manage(actor, base):
        raise NotAllowed(_("只有主管该基地的项目办可以修改基地信息：国家级基地由全国项目办管理，省级基地由所在地区的项目办管理。"))
    if not can_view(actor, base):
        raise NotAllowed(_("您只能查看本机构的基地信息。"))
    return base


# ---------------------------------------------------------------- checking input

def check_date(value, field: str, *, not_before: date | None = None) -> date:
    """A date typed as 年-月-日 (an HTML date field), not in the future."""
    text = str(value or "").strip()
    try:
        if not re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", text):
            raise ValueError
        year, month, day = (int(p) for p in text.split("-"))
        when = date(year, month, day)
    except ValueError:
        raise InvalidInput(_("请按“年-月-日”填写一个有效日期，如 2022-03-01。"), field=field) from None
    today = local_date(utcnow_naive())
    if when > today:
        raise InvalidInput(_("日期不能晚于今天（%(today)s）。", today=today.isoformat()), field=field)
    if when.year < 1980:
        raise InvalidInput(_("日期不能早于 1980 年。"), field=field)
    if not_before is not None and when < not_before:
        raise InvalidInput(_("日期不能早于基地的认定日期（%(day)s）。", day=not_before.isoformat()), field=field)
    return when


def _text(value, field: str, label: str, *, limit: int, minimum: int = 1) -> str:
    return one_line(value, field, label, limit=limit, minimum=minimum)


def _choice(value, enum, field: str):
    try:
        return enum(str(value or ""))
    except ValueError:
        raise InvalidInput(_("请从列表中选择。"), field=field) from None


def check_score(value) -> Decimal:
    try:
        score = Decimal(str(value or "").strip())
    except InvalidOperation:
        raise InvalidInput(_("评估得分应为 0–100 之间的数字，最多两位小数。"), field="score") from None
    if not score.is_finite() or not Decimal(0) <= score <= Decimal(100) or score != score.quantize(Decimal("0.01")):
        raise InvalidInput(_("评估得分应为 0–100 之间的数字，最多两位小数。"), field="score")
    return score.quantize(Decimal("0.01"))


# ---------------------------------------------------------------- the registry

@dataclass(frozen=True)
class BaseData:
    organization_name: str
    credit_code: str
    level: str
    region_code: str
    recognised_on: str
    document_number: str


def _organization(name: str, credit_code: str, region_code: str | None) -> Organization:
    """The base's organization: by credit code when given, else by name; created as a publisher.
    An existing organization is adopted only when it is the one typed: the same name, and (for a
    base with a region) not an organization of another region."""
    if credit_code:
        try:
            credit_code = normalize_credit_code(credit_code)
        except IdentifierError as exc:
            raise InvalidInput(str(exc), field="credit_code") from None
        org = db.session.scalar(select(Organization).where(Organization.credit_code == credit_code))
        if org is not None and org.name != name:
            raise InvalidInput(_("统一社会信用代码 %(code)s 登记的机构是“%(name)s”，与填写的机构名称不一致。",
                                 code=credit_code, name=org.name), field="organization_name")
    else:
        org = db.session.scalar(select(Organization).where(Organization.name == name).order_by(Organization.id))
    if org is not None and region_code and org.region_code and org.region_code != region_code:
        raise InvalidInput(_("“%(name)s”是地区 %(code)s 的机构，不能登记为其他地区的基地。",
                             name=org.name, code=org.region_code), field="region_code")
    if org is None:
        org = Organization(name=name, kind=OrgKind.PUBLISHER, credit_code=credit_code or None, region_code=region_code)
        db.session.add(org)
        db.session.flush()
    return org


def register_base(actor, data: BaseData) -> ContinuingEducationBase:
    """Enter a recognised base in the registry. A regional office enters provincial bases of its region only."""
    _signed_in(actor)
    if not may_register(actor):
        raise NotAllowed(_("只有项目办和平台管理员可以登记继续教育基地。"))
    name = _text(data.organization_name, "organization_name", _("机构名称"), limit=120)
    level = _choice(data.level, BaseLevel, "level")
    region_code = (data.region_code or "").strip() or None
    if region_code is not None and db.session.get(Region, region_code) is None:
        raise InvalidInput(_("地区代码 %(code)s 不存在。", code=region_code), field="region_code")
    if level == BaseLevel.PROVINCIAL and region_code is None:
        raise InvalidInput(_("省级基地须选择所在地区。"), field="region_code")
    if not _national(actor) and not (level == BaseLevel.PROVINCIAL and region_code in _regions(actor)):
        raise NotAllowed(_("地区项目办只能登记本地区的省级基地；国家级基地由全国项目办登记。"))
    recognised_on = check_date(data.recognised_on, "recognised_on")
    # Full-width digits and letters as an input method types them (２０２０) are the ASCII ones.
    document = _text(unicodedata.normalize("NFKC", str(data.document_number or "")), "document_number",
                     _("认定文号"), limit=60)
    advisory_lock(_REGISTRY_LOCK_KEY)  # one registration at a time: the second finds the first's base
    org = _organization(name, (data.credit_code or "").strip(), region_code)
    if db.session.scalar(select(ContinuingEducationBase.id).where(ContinuingEducationBase.organization_id == org.id)):
        raise Conflict(_("“%(name)s”已登记为继续教育基地。", name=org.name), field="organization_name")
    base = ContinuingEducationBase(organization_id=org.id, level=level, region_code=region_code,
                                   recognised_on=recognised_on, document_number=document,
                                   status=BaseStatus.RECOGNISED, created_by_id=actor.id)
    db.session.add(base)
    db.session.flush()
    db.session.add(BaseEvent(base_id=base.id, occurred_on=recognised_on, kind=BaseEventKind.RECOGNISED,
                             status=BaseStatus.RECOGNISED, note=document))
    db.session.flush()
    record_event(actor, REGISTERED_ACTION, base, organization=org.name, level=str(level), region=region_code,
                 recognised_on=recognised_on.isoformat(), document_number=document)
    return base


@dataclass(frozen=True)
class EvaluationData:
    year: str
    score: str
    result: str
    evaluator: str
    evaluated_on: str
    note: str = ""


def record_evaluation(actor, base: ContinuingEducationBase, data: EvaluationData,
                      uploads: list[attachments.Upload]) -> BaseEvaluation:
    """An annual evaluation of ``base`` with its attachments; every file is checked as it is stored, and none is kept when one is refused."""
    if not can_manage(actor, base):
        raise NotAllowed(_("只有主管该基地的项目办可以录入评估结果。"))
    base = lock_base(base)
    if base.status == BaseStatus.WITHDRAWN:
        raise Conflict(_("该基地已被撤销认定，不能再录入评估。"))
    year = check_year(data.year)
    if year < base.recognised_on.year:
        raise InvalidInput(_("评估年度不能早于基地的认定年度（%(year)s）。", year=base.recognised_on.year), field="year")
    score = check_score(data.score)
    result = _choice(data.result, EvaluationResult, "result")
    evaluator = _text(data.evaluator, "evaluator", _("评估单位或专家组"), limit=100)
    evaluated_on = check_date(data.evaluated_on, "evaluated_on", not_before=base.recognised_on)
    note = one_line(data.note, "note", _("说明"), limit=1000)
    uploads = [u for u in uploads if u.filename]
    if len(uploads) > MAX_ATTACHMENTS:
        raise InvalidInput(_("每次评估最多 %(n)s 个附件。", n=MAX_ATTACHMENTS), field="attachments")
    if db.session.scalar(select(BaseEvaluation.id).where(BaseEvaluation.base_id == base.id,
                                                         BaseEvaluation.year == year)):
        raise Conflict(_("该基地 %(year)s 年度的评估已录入。", year=year), field="year")
    max_bytes = current_app.config["LMS_BASE_ATTACHMENT_MAX_MB"] * 1024 * 1024
    stored = attachments.store_all(uploads, f"base-evaluations/{base.id}", limit=max_bytes, field="attachments")
    # Kept only if this transaction commits: a refusal, an error or a failed commit deletes them.
    attachments.discard_on_rollback(db.session(), stored)
    evaluation = BaseEvaluation(base_id=base.id, year=year, score=score, result=result, evaluator=evaluator,
                                evaluated_on=evaluated_on, note=note, recorded_by_id=actor.id)
    db.session.add(evaluation)
    db.session.flush()
    for item in stored:
        db.session.add(BaseAttachment(evaluation_id=evaluation.id, filename=item.original_name,
                                      content_type=item.content_type, size_bytes=item.size_bytes,
                                      sha256=item.sha256, path=item.path))
    db.session.flush()
    db.session.add(BaseEvent(base_id=base.id, occurred_on=evaluated_on, kind=BaseEventKind.EVALUATED,
                             status=base.status, result=result, year=year))
    db.session.flush()
    record_event(actor, EVALUATED_ACTION, base, evaluation=evaluation.id, year=year, score=str(score),
                 result=str(result), evaluator=evaluator, attachments=[item.original_name for item in stored])
    return evaluation


def change_status(actor, base: ContinuingEducationBase, status, on, note: str = "") -> ContinuingEducationBase:
    """Between 已认定 and 评估中; withdrawal has its own step (:func:`withdraw_base`) and is final."""
    if not can_manage(actor, base):
        raise NotAllowed(_("只有主管该基地的项目办可以调整基地状态。"))
    base = lock_base(base)
    if base.status == BaseStatus.WITHDRAWN:
        raise Conflict(_("该基地已被撤销认定，状态不能再调整。"))
    status = _choice(status, BaseStatus, "status")
    if status == BaseStatus.WITHDRAWN:
        raise InvalidInput(_("撤销认定请使用“撤销认定”，并填写原因。"), field="status")
    if status == base.status:
        raise InvalidInput(_("基地当前已是“%(status)s”。", status=status.label), field="status")
    when = check_date(on, "on", not_before=base.recognised_on)
    note = one_line(note, "note", _("说明"), limit=500)
    before = base.status
    base.status = status
    db.session.add(BaseEvent(base_id=base.id, occurred_on=when, kind=BaseEventKind.STATUS_CHANGED, status=status,
                             note=note))
    db.session.flush()
    record_event(actor, STATUS_ACTION, base, before=str(before), after=str(status), on=when.isoformat(), note=note)
    return base


def withdraw_base(actor, base: ContinuingEducationBase, on, reason: str) -> ContinuingEducationBase:
    """Withdraw the base's recognition (退出机制) with a reason that the public history shows."""
    if not can_manage(actor, base):
        raise NotAllowed(_("只有主管该基地的项目办可以撤销基地认定。"))
    base = lock_base(base)
    if base.status == BaseStatus.WITHDRAWN:
        raise Conflict(_("该基地已被撤销认定。"))
    when = check_date(on, "on", not_before=base.recognised_on)
    reason = _text(reason, "reason", _("撤销原因"), limit=500, minimum=4)
    before = base.status
    base.status = BaseStatus.WITHDRAWN
    base.withdrawn_on = when
    base.withdrawal_reason = reason
    db.session.add(BaseEvent(base_id=base.id, occurred_on=when, kind=BaseEventKind.WITHDRAWN,
                             status=BaseStatus.WITHDRAWN, note=reason))
    db.session.flush()
    record_event(actor, WITHDRAWN_ACTION, base, before=str(before), on=when.isoformat(), reason=reason)
    return base


# ---------------------------------------------------------------- people trained against the minimum

def region_choices() -> list[tuple[str, str]]:
    return [(r.code, r.name) for r in db.session.scalars(select(Region).order_by(Region.code))]


def minimum_for(level: str) -> int:
    key = "LMS_BASE_MIN_NATIONAL" if level == BaseLevel.NATIONAL else "LMS_BASE_MIN_PROVINCIAL"
    return current_app.config[key]


def trained_counts(organization_ids: list[int], year: int) -> dict[int, int]:
    """{organization id: distinct learners with a counting record of ``year`` for its courses}: one query."""
    if not organization_ids:
        return {}
    voiding = aliased(CreditRecord)
    rows = db.session.execute(
        select(Course.publisher_id, func.count(distinct(CreditRecord.user_id)))
        .join(Course, Course.id == CreditRecord.course_id)
        .where(CreditRecord.credit_year == year, CreditRecord.entry_kind != EntryKind.REVOCATION,
               ~exists().where(voiding.voids_id == CreditRecord.id),
               Course.publisher_id.in_(organization_ids))
        .group_by(Course.publisher_id))
    return dict(rows.all())


@dataclass
class Standing:
    base: ContinuingEducationBase
    year: int
    trained: int
    minimum: int

    @property
    def below(self) -> bool:
        """Flagged: a base still recognised (or under evaluation) that trained fewer than its minimum."""
        return self.base.status != BaseStatus.WITHDRAWN and self.trained < self.minimum

    @property
    def percent(self) -> int:
        return min(100, self.trained * 100 // self.minimum) if self.minimum else 100


def standings(bases: list[ContinuingEducationBase], year: int) -> list[Standing]:
    counts = trained_counts([b.organization_id for b in bases], year)
    return [Standing(b, year, counts.get(b.organization_id, 0), minimum_for(b.level)) for b in bases]


def default_year() -> int:
    return local_date(utcnow_naive()).year


def managed_bases(actor, year=None) -> tuple[int, list[Standing]]:
    """(year, the bases the actor may see with their standing), those below their minimum first."""
    _signed_in(actor)
    year = default_year() if year in (None, "") else check_year(year)
    query = (select(ContinuingEducationBase).join(Organization)
             .options(selectinload(ContinuingEducationBase.organization), selectinload(ContinuingEducationBase.region))
             .order_by(ContinuingEducationBase.level, Organization.name))
    clause = _visible_clause(actor)
    if clause is not None:
        query = query.where(clause)
    rows = standings(list(db.session.scalars(query)), year)
    rows.sort(key=lambda s: (not s.below, s.base.status == BaseStatus.WITHDRAWN))
    return year, rows


# ---------------------------------------------------------------- public pages

def public_bases(*, q: str = "", level: str = "", status: str = "") -> list[ContinuingEducationBase]:
    """Every base, searchable by organization name or document number, filtered by level and status
    (an unknown filter value matches nothing)."""
    query = (select(ContinuingEducationBase).join(Organization)
             .options(selectinload(ContinuingEducationBase.organization), selectinload(ContinuingEducationBase.region))
             .order_by(ContinuingEducationBase.level, ContinuingEducationBase.status, Organization.name))
    q = " ".join((q or "").split())[:60]
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(Organization.name.like(pattern, escape="\\"),
                                ContinuingEducationBase.document_number.like(pattern, escape="\\")))
    if level:
        query = query.where(ContinuingEducationBase.level == level)
    if status:
        query = query.where(ContinuingEducationBase.status == status)
    return list(db.session.scalars(query))


def public_base(base_id: int) -> ContinuingEducationBase:
    base = db.session.get(ContinuingEducationBase, base_id)
    if base is None:
        raise NotFound(_("没有这个继续教育基地。"))
    return base


def load_attachment(actor, attachment_id: int) -> BaseAttachment:
    """An evaluation's attachment, for whoever may see its base (404 when there is none)."""
    _signed_in(actor)
    attachment = db.session.get(BaseAttachment, attachment_id)
    if attachment is None:
        raise NotFound(_("没有这个附件。"))
    load_base(actor, attachment.evaluation.base_id)
    return attachment
