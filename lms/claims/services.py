"""学时登记: a learner claims hours earned elsewhere; reviewers decide; approved hours enter the ledger.

The path of a claim (every step is a :class:`ClaimStep` shown to the learner and an audit event):

1. The learner submits it with evidence (:mod:`lms.claims.evidence`). A learner with a confirmed unit
   goes to that unit's admins (``unit_review``); one without goes straight to the HR auditors of
   their region (``region_review``).
2. A unit admin of the claim's unit approves, reduces (fewer hours, with a reason) or rejects (with a
   reason). Where the learner's rule set asks for it (``RuleSet.claims_need_region``), an HR auditor
   of the region then confirms, reduces further or rejects. Nobody reviews their own claim, and the
   region's confirmation is made by someone other than the unit's reviewer (separation of duties).
3. The hours approved become a ledger entry of origin ``external_claim`` dated on the activity's day,
   so in that day's credit year. The rule set caps each kind per year (``claim_caps``) and all
   claimed hours of a year (``claim_year_cap_hours``): the cap applies to what the year's entries of
   that kind already hold, however claims are split or ordered, and the entry's note says what was
   not counted and why (like the daily cap's note).

A learner who moves takes their open claims along: while a claim is open it is routed by the learner's
confirmed unit and region *now* (a claim waiting for a unit whose learner has none any more goes to the
region); once decided it keeps the unit and region it was decided under.

Services flush; the edge commits. Who may see a claim: its learner; platform admins; the admins of the
learner's unit while it is open, and afterwards while the learner is still confirmed at the unit that
decided it; anyone who decided a step of it; the auditors of its region; and the inspector drawn to
check the ledger entry it produced (registered by lms.programme.inspections). Anyone else is told it
does not exist. A former employer's admins thus keep no access to a learner's other claims.
"""

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import or_, select

from ..accounts.models import EmploymentStatus, Role, User
from ..catalog.models import Category
from ..core.audit import record_event
from ..core.clock import local_date, utcnow_naive
from ..core.database import advisory_lock
from ..core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from ..core.formatting import format_hours
from ..credits import services as ledger
from ..credits.models import CreditOrigin
from ..extensions import db
from . import evidence as files
from .models import ClaimEvidence, ClaimKind, ClaimStatus, ClaimStep, HourClaim, StepAction

HOURS_MIN, HOURS_MAX = Decimal("0.5"), Decimal(90)
OPEN_OR_APPROVED = (ClaimStatus.UNIT_REVIEW, ClaimStatus.REGION_REVIEW, ClaimStatus.APPROVED)
SOURCE_TYPE = "hour_claim"


class Decision:
    APPROVE, REDUCE, REJECT = "approve", "reduce", "reject"
    ALL = (APPROVE, REDUCE, REJECT)


@dataclass(frozen=True)
class ClaimData:
    """What the learner typed; strings, checked by :func:`validate_claim`."""

    kind: str
    title: str
    activity_date: str | date
    hours: str
    category: str
    description: str


# ---------------------------------------------------------------- checking input

_HOURS = re.compile(r"\d{1,6}(\.\d+)?", re.ASCII)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def _typed(raw) -> str:
    """What was typed, full-width digits and punctuation of a Chinese keyboard folded to ASCII."""
    return unicodedata.normalize("NFKC", str(raw if raw is not None else "")).strip()


def parse_hours(raw, *, field: str = "hours") -> Decimal:
    """Plain decimal notation only (``4``, ``1.5``): no exponent, no ``1_0``, no infinity."""
    text = _typed(raw)
    if not _HOURS.fullmatch(text):
        raise InvalidInput(_("学时应为数字，如 4 或 1.5。"), field=field)
    hours = Decimal(text)
    if not HOURS_MIN <= hours <= HOURS_MAX:
        raise InvalidInput(_("学时应在 %(low)s–%(high)s 学时之间。", low=format_hours(HOURS_MIN),
                             high=format_hours(HOURS_MAX)), field=field)
    if hours != hours.quantize(Decimal("0.1")):
        raise InvalidInput(_("学时应为数字，最多一位小数，如 4 或 1.5。"), field=field)
    return hours


def _parse_date(raw) -> date:
    if isinstance(raw, date):
        return raw
    text = _typed(raw)
    try:
        if not _DAY.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(_("请按“年-月-日”填写日期，如 2026-05-20。"), field="activity_date") from None


def plain_text(raw) -> str:
    """One line of text as shown to others: spaces collapsed, control and format characters (zero-width
    spaces, bidi overrides) removed."""
    kept = "".join(c for c in str(raw or "") if unicodedata.category(c) not in ("Cc", "Cf") or c.isspace())
    return " ".join(kept.split())


def validate_claim(user, data: ClaimData) -> dict:
    """The claim's clean values; InvalidInput names the first field that is wrong."""
    if data.kind not in {k.value for k in ClaimKind}:
        raise InvalidInput(_("请选择学时类型。"), field="kind")
    title = plain_text(data.title)
    if not 2 <= len(title) <= 120:
        raise InvalidInput(_("请填写 2–120 个字的活动名称，如会议或培训的名称、论文题目。"), field="title")
    day = _parse_date(data.activity_date)
    today = local_date(utcnow_naive())
    if day > today:
        raise InvalidInput(_("活动日期不能晚于今天。"), field="activity_date")
    rule = ledger.rule_set_for(user)
    earliest, _end = ledger.cycle_bounds(rule, ledger.current_credit_year(rule) - 1)
    if day < earliest:
        raise InvalidInput(_("只能登记本年度和上一年度的学时（%(d)s 以后的活动）。", d=earliest.isoformat()),
                           field="activity_date")
    hours = parse_hours(data.hours)
    if data.category not in {c.value for c in Category}:
        raise InvalidInput(_("请选择科目类别：公需、专业或选修。"), field="category")
    description = (data.description or "").strip()
    if not 5 <= len(description) <= 2000:
        raise InvalidInput(_("请用 5–2000 个字说明活动内容、主办单位和您的参与情况。"), field="description")
    return dict(kind=data.kind, title=title, activity_date=day, hours_claimed=hours, category=data.category,
                description=description)


# ---------------------------------------------------------------- who may see and review

def _unit_ids(actor) -> set[int]:
    return {g.organization_id for g in actor.grants_for(Role.UNIT_ADMIN) if g.organization_id}


def _region_codes(actor) -> set[str]:
    return {g.region_code for g in actor.grants_for(Role.HR_AUDITOR) if g.region_code}


def _current_unit(claim: HourClaim) -> int | None:
    """The learner's confirmed unit now (None: no confirmed unit)."""
    learner = claim.user
    if learner.employer_id is not None and learner.employment_status == EmploymentStatus.APPROVED:
        return learner.employer_id
    return None


def routed_unit(claim: HourClaim) -> int | None:
    """The unit whose admins act on the claim: while it is open, the learner's confirmed unit now (a
    learner who moved takes their open claims along); once decided, the unit it was decided under."""
    return _current_unit(claim) if claim.open else claim.organization_id


def routed_region(claim: HourClaim) -> str | None:
    """Likewise the region: the learner's region now while open, the region of record once decided."""
    return claim.user.region_code if claim.open else claim.region_code


def current_stage(claim: HourClaim) -> str | None:
    """Whose decision the claim waits for: "unit", "region", or None once decided. A claim waiting for
    a unit whose learner no longer has a confirmed unit goes to the region, as it would have at
    submission."""
    if claim.status == ClaimStatus.UNIT_REVIEW:
        return "unit" if routed_unit(claim) is not None else "region"
    if claim.status == ClaimStatus.REGION_REVIEW:
        return "region"
    return None


def status_label(claim: HourClaim) -> str:
    """The claim's status as its learner should read it: 待人社审核 for a claim waiting for a unit whose
    learner has no confirmed unit now (the region decides it, :func:`current_stage`)."""
    if current_stage(claim) == "region":
        return ClaimStatus.REGION_REVIEW.label
    return claim.status_label


def reviews_as_unit(actor, claim: HourClaim) -> bool:
    unit = routed_unit(claim)
    return unit is not None and unit in _unit_ids(actor)


def reviews_as_region(actor, claim: HourClaim) -> bool:
    region = routed_region(claim)
    return region is not None and region in _region_codes(actor)


def decided_earlier(actor, claim: HourClaim) -> bool:
    """Whether ``actor`` already decided an earlier step of the claim (separation of duties,
    :mod:`lms.core.duties`: the region's confirmation is a second check, by another person)."""
    return any(step.actor_id == getattr(actor, "id", None) and step.stage in ("unit", "region")
               for step in claim.steps)


def _sees_as_unit(actor, claim: HourClaim) -> bool:
    """A unit admin sees the open claims of the unit's learners, and the decided claims of learners
    still confirmed at the unit; after the learner has left, only the claims they decided themselves."""
    if claim.open:
        return reviews_as_unit(actor, claim)
    return (claim.organization_id is not None and claim.organization_id in _unit_ids(actor)
            and _current_unit(claim) == claim.organization_id)


# Others a higher package lets see a claim (the drawn inspector of the ledger entry it produced:
# lms.programme.inspections): checks ``(actor, claim) -> bool`` it registers with :func:`add_viewer`.
_viewers: list = []


def add_viewer(check) -> None:
    if check not in _viewers:
        _viewers.append(check)


def may_see(actor, claim: HourClaim) -> bool:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return False
    return (claim.user_id == actor.id or actor.has_role(Role.ADMIN) or decided_earlier(actor, claim)
            or _sees_as_unit(actor, claim) or reviews_as_region(actor, claim)
            or any(check(actor, claim) for check in _viewers))


def may_review(actor, claim: HourClaim) -> bool:
    """Whether ``actor`` decides the claim's current step (never their own claim, never a step after
    one they decided)."""
    if claim.user_id == getattr(actor, "id", None) or decided_earlier(actor, claim):
        return False
    stage = current_stage(claim)
    if stage == "unit":
        return reviews_as_unit(actor, claim)
    if stage == "region":
        return reviews_as_region(actor, claim)
    return False


def check_reviewer(actor, claim: HourClaim) -> None:
    """Refuse, saying why, anyone who does not decide the claim's current step."""
    if not claim.open:
        raise Conflict(_("这条学时登记已审核完毕（%(status)s），不能再次审核。", status=claim.status_label))
    if claim.user_id == actor.id:
        raise NotAllowed(_("不能审核本人提交的学时登记，请由单位其他管理员或人社审核人员审核。"))
    if decided_earlier(actor, claim):
        raise NotAllowed(_("职责分离：您已审核过这条学时登记的单位环节，人社确认须由另一位审核人员进行。"))
    if not may_review(actor, claim):
        raise NotAllowed(_("这条学时登记当前%(status)s，您不是这一步的审核人。", status=claim.status_label))


def claim_for(actor, claim_id: int, *, lock: bool = False) -> HourClaim:
    """The claim, if ``actor`` may see it; otherwise it does not exist for them (404)."""
    query = select(HourClaim).where(HourClaim.id == claim_id)
    if lock:
        # Wait for a concurrent decision to commit, then read the claim as it now is (the identity map
        # would otherwise hand back the copy loaded before the wait, still "open").
        query = query.with_for_update().execution_options(populate_existing=True)
    claim = db.session.scalar(query)
    if claim is None or not may_see(actor, claim):
        raise NotFound(_("没有找到这条学时登记。"))
    return claim


def evidence_for(actor, claim_id: int, evidence_id: int) -> ClaimEvidence:
    """An evidence file of a claim ``actor`` may see. Opened by anyone but the learner (a reviewer,
    an inspector, an administrator), it is audited: who saw which learner's file, and when."""
    claim = claim_for(actor, claim_id)
    item = db.session.get(ClaimEvidence, evidence_id)
    if item is None or item.claim_id != claim.id:
        raise NotFound(_("没有找到这份证明材料。"))
    if claim.user_id != actor.id:
        record_event(actor, "claim.evidence_viewed", claim, evidence=item.id, learner=claim.user_id)
    return item


def my_claims(actor) -> list[HourClaim]:
    return list(db.session.scalars(select(HourClaim).where(HourClaim.user_id == actor.id)
                                   .order_by(HourClaim.id.desc())))


def review_queue(actor) -> list[HourClaim]:
    """The claims waiting for ``actor``'s decision, oldest first (their own claims are not theirs to decide).
    A platform admin sees every open claim (and decides none of them)."""
    units, regions = _unit_ids(actor), _region_codes(actor)
    if actor.has_role(Role.ADMIN) and not units and not regions:
        return list(db.session.scalars(select(HourClaim).where(HourClaim.status.in_(
            (ClaimStatus.UNIT_REVIEW, ClaimStatus.REGION_REVIEW))).order_by(HourClaim.id)))
    if not units and not regions:
        raise NotAllowed(_("只有单位管理员和人社审核人员可以审核学时登记。"))
    # Routed by the learner's unit and region now (routed_unit, current_stage).
    confirmed = User.employer_id.isnot(None) & (User.employment_status == EmploymentStatus.APPROVED)
    waiting = []
    if units:
        waiting.append((HourClaim.status == ClaimStatus.UNIT_REVIEW) & confirmed & User.employer_id.in_(units))
    if regions:
        waiting.append(((HourClaim.status == ClaimStatus.REGION_REVIEW)
                        | ((HourClaim.status == ClaimStatus.UNIT_REVIEW) & ~confirmed)) & User.region_code.in_(regions))
    return list(db.session.scalars(select(HourClaim).join(User, User.id == HourClaim.user_id).where(
        or_(*waiting), HourClaim.user_id != actor.id,
        ~HourClaim.steps.any((ClaimStep.actor_id == actor.id) & ClaimStep.stage.in_(("unit", "region"))))
        .order_by(HourClaim.id)))


# ---------------------------------------------------------------- the same activity twice

# Key of the PostgreSQL advisory lock (with the learner's id) that orders one learner's submissions.
_SUBMIT_LOCK_KEY = 0x67786C63  # "gxlc"


def duplicate_of(user_id: int, *, kind: str, day: date, title: str, hashes: set[str], statuses,
                 besides: int | None = None) -> HourClaim | None:
    """The learner's earliest other claim in one of ``statuses`` for the same activity: the same
    evidence file (by its SHA-256), or the same kind, day and title. One activity, one credit."""
    same_file = HourClaim.evidence.any(ClaimEvidence.sha256.in_(hashes)) if hashes else None
    same_activity = (HourClaim.kind == kind) & (HourClaim.activity_date == day) & (HourClaim.title == title)
    query = select(HourClaim).where(HourClaim.user_id == user_id, HourClaim.status.in_(statuses),
                                    or_(same_activity, same_file) if same_file is not None else same_activity)
    if besides is not None:
        query = query.where(HourClaim.id != besides)
    return db.session.scalars(query.order_by(HourClaim.id).limit(1)).first()


def _refuse_duplicate(earlier: HourClaim | None) -> None:
    if earlier is not None:
        raise Conflict(_("这项活动已在第 %(id)s 号学时登记（%(title)s，%(status)s）中登记过：同一活动、同一份证明材料"
                         "只能认定一次。那条登记未通过时，可以重新登记。",
                         id=earlier.id, title=earlier.title, status=earlier.status_label), field="title")


# ---------------------------------------------------------------- submitting

def submit_claim(actor, data: ClaimData, uploads: list[files.Upload]) -> HourClaim:
    """A new claim with its evidence, waiting for the first reviewer. Refused as a whole (no row, no
    file kept) when a field or any file is wrong."""
    values = validate_claim(actor, data)
    uploads = [u for u in uploads if u.filename]
    if not uploads:
        raise InvalidInput(_("请上传至少一份证明材料（PDF、JPG 或 PNG），如参会证明、论文首页或培训证书。"),
                           field="evidence")
    if len(uploads) > files.MAX_FILES:
        raise InvalidInput(_("证明材料最多 %(n)s 份，请合并后上传。", n=files.MAX_FILES), field="evidence")
    if not actor.region_code:
        raise InvalidInput(_("请先在个人信息中填写所在地区：学时登记由所在地区的人社部门审核。"))
    confirmed = actor.employer_id is not None and actor.employment_status == EmploymentStatus.APPROVED
    claim = HourClaim(user_id=actor.id, **values, region_code=actor.region_code,
                      organization_id=actor.employer_id if confirmed else None,
                      status=ClaimStatus.UNIT_REVIEW if confirmed else ClaimStatus.REGION_REVIEW)
    db.session.add(claim)
    db.session.flush()
    stored = files.store(uploads, actor.id)
    # Kept only if this transaction commits: a refusal, an error or a failed commit deletes them.
    files.discard_on_rollback(db.session(), stored)
    advisory_lock(_SUBMIT_LOCK_KEY, actor.id)  # two submissions at once: the second sees the first
    _refuse_duplicate(duplicate_of(actor.id, kind=claim.kind, day=claim.activity_date, title=claim.title,
                                   hashes={item.sha256 for item in stored}, statuses=OPEN_OR_APPROVED,
                                   besides=claim.id))
    for item in stored:
        db.session.add(ClaimEvidence(claim_id=claim.id, **item.__dict__))
    _step(actor, claim, "learner", StepAction.SUBMITTED, claim.hours_claimed)
    db.session.flush()
    record_event(actor, "claim.submit", claim, kind=claim.kind, hours=str(claim.hours_claimed),
                 evidence=len(stored), goes_to=claim.status)
    return claim


def _step(actor, claim: HourClaim, stage: str, action: str, hours, reason: str | None = None) -> ClaimStep:
    step = ClaimStep(actor_id=getattr(actor, "id", None), stage=stage, action=action, hours=hours, reason=reason,
                     at=utcnow_naive())
    claim.steps.append(step)
    return step


# ---------------------------------------------------------------- reviewing

def review_claim(actor, claim_id: int, *, decision: str, hours=None, reason: str = "") -> HourClaim:
    """The current reviewer's decision: approve, reduce to ``hours`` with a reason, or reject with a reason."""
    claim = claim_for(actor, claim_id, lock=True)
    check_reviewer(actor, claim)
    if decision not in Decision.ALL:
        raise InvalidInput(_("请选择通过、核减或不予认定。"), field="decision")
    reason = (reason or "").strip()
    current = claim.hours_approved if claim.hours_approved is not None else claim.hours_claimed
    stage = current_stage(claim)
    if decision != Decision.APPROVE and not reason:
        raise InvalidInput(_("核减或不予认定时请填写原因（学员会看到）。"), field="reason")
    if len(reason) > 500:
        raise InvalidInput(_("原因请控制在 500 字以内。"), field="reason")
    if decision == Decision.REDUCE:
        hours = parse_hours(hours)
        if hours >= current:
            raise InvalidInput(_("核减后的学时应少于 %(n)s 学时；同意全部学时请选择“通过”。", n=format_hours(current)),
                               field="hours")
    else:
        hours = current
    if decision != Decision.REJECT:  # claims older than the check at submission
        _refuse_duplicate(duplicate_of(claim.user_id, kind=claim.kind, day=claim.activity_date, title=claim.title,
                                       hashes={e.sha256 for e in claim.evidence}, statuses=(ClaimStatus.APPROVED,),
                                       besides=claim.id))
    # The unit and region it is decided under become the claim's of record (the learner may have moved).
    unit_decided = stage == "unit" or any(step.stage == "unit" for step in claim.steps)
    claim.organization_id = routed_unit(claim) if stage == "unit" or not unit_decided else claim.organization_id
    claim.region_code = routed_region(claim)
    action = {Decision.APPROVE: StepAction.APPROVED, Decision.REDUCE: StepAction.REDUCED,
              Decision.REJECT: StepAction.REJECTED}[decision]
    _step(actor, claim, stage, action, None if decision == Decision.REJECT else hours, reason or None)
    record_event(actor, f"claim.{stage}_review", claim, decision=decision, hours=str(hours), reason=reason or None)
    if decision == Decision.REJECT:
        claim.status, claim.decided_at = ClaimStatus.REJECTED, utcnow_naive()
        db.session.flush()
        return claim
    claim.hours_approved = hours
    if stage == "unit" and ledger.rule_set_for(claim.user).claims_need_region:
        claim.status = ClaimStatus.REGION_REVIEW
        db.session.flush()
        return claim
    credit_claim(actor, claim)
    return claim


def _cap_room(rule, user_id: int, year: int, kind: str) -> tuple[Decimal | None, str | None]:
    """Hours the year may still take from claims of ``kind`` (None: no cap), and what the tightest cap is
    (in the source wording: it becomes part of the ledger entry's note)."""
    room, why = None, None
    kind_cap = rule.claim_cap_by_kind.get(kind)
    if kind_cap is not None:
        used = ledger.origin_hours(user_id, year, CreditOrigin.EXTERNAL_CLAIM, kind)
        room = max(Decimal(0), kind_cap - used)
        why = (f"本年度“{ClaimKind(kind).source_label}”类学时登记上限 {format_hours(kind_cap)} 学时，"
               f"此前已计入 {format_hours(used)} 学时")
    if rule.claim_year_cap_hours is not None:
        used = ledger.origin_hours(user_id, year, CreditOrigin.EXTERNAL_CLAIM)
        total_room = max(Decimal(0), Decimal(rule.claim_year_cap_hours) - used)
        if room is None or total_room < room:
            room = total_room
            why = (f"本年度学时登记合计上限 {format_hours(rule.claim_year_cap_hours)} 学时，"
                   f"此前已计入 {format_hours(used)} 学时")
    return room, why


def credit_claim(actor, claim: HourClaim) -> HourClaim:
    """Enter the approved hours in the ledger within the year's caps; the claim is then approved.

    The ledger lock is taken before the year's entries are read, so two approvals at once cannot
    both fill the same room under a cap."""
    if claim.credit_record_id is not None or claim.hours_credited is not None:
        raise Conflict(_("这条学时登记已记入学时，不能重复记入。"))
    user = claim.user
    rule = ledger.rule_set_for(user)
    ledger.lock_ledger()
    year = ledger.credit_year(rule, ledger.local_noon_utc(claim.activity_date))
    approved = Decimal(claim.hours_approved)
    room, why = _cap_room(rule, user.id, year, claim.kind)
    credited, note = approved, None
    if room is not None and approved > room:
        credited = room
        # Stored with the entry in the source wording, like the daily cap's note (written once, read by all).
        note = f"{why}，本次认定的 {format_hours(approved)} 学时中 {format_hours(approved - room)} 学时未计入。"
    if credited > 0:
        record = ledger.record_activity(
            user, origin=CreditOrigin.EXTERNAL_CLAIM, title=claim.title, hours=credited, category=claim.category,
            day=claim.activity_date, activity_kind=claim.kind, source=(SOURCE_TYPE, str(claim.id)), note=note,
            entered_by=actor)
        claim.credit_record_id = record.id
    claim.hours_credited = credited
    claim.status, claim.decided_at = ClaimStatus.APPROVED, utcnow_naive()
    _step(actor, claim, "ledger", StepAction.CREDITED, credited, note)
    db.session.flush()
    record_event(actor, "claim.credited", claim, year=year, hours=str(credited), note=note,
                 credit_record=claim.credit_record_id)
    return claim
