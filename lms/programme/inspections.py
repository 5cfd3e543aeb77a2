"""Random inspections, "双随机、一公开" (seed 一(四)): a programme office draws inspectors at random
from a pool and targets at random from a population, and publishes the results.

The steps of a plan, each audited (``inspection.*``):

1. ``create_plan`` — a national office (or an admin) for the whole country or any region, a regional
   office for its region: a title, the population (bases, institutions, courses, or credit records),
   its year, how many targets and how many inspectors per target. A draft changes nothing public.
2. ``freeze_plan`` — the population is taken and fixed in a published order (credit records only as
   keyed hashes of their ids: ``R`` + HMAC-SHA-256 under the ``inspection-record`` key of
   lms/core/keys.py over "plan id:record id", 20 hex characters, different in every plan), the
   inspector pool likewise (active users with the inspector role; a regional plan: those of its
   region), with each entry's excluded inspectors (separation of duties, lms/core/duties.py: an
   inspector employed by, or administering for, the target's organization, or the learner of a
   credit record); and 32 random bytes become the seed, kept encrypted, whose SHA-256 is published
   as the commitment. From now on neither the population nor the seed can change.
3. ``reveal_and_draw`` — the seed is revealed (the one kept, or one given: any seed whose hash is not
   the commitment is refused) and the draw computed by :mod:`lms.programme.draw`; anyone can
   recompute it from :func:`published_document` with scripts/verify_draw.py or on the public page.
4. ``record_finding`` — each drawn inspector records a result and notes for their target; for a
   credit record they see the evidence behind it (:func:`record_evidence`).
5. ``close_plan`` — once every finding is in, the findings become public (一公开).

Functions take the acting person, authorize them, and only flush; the caller commits.
"""

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, insert, select
from sqlalchemy.orm import aliased, selectinload

from ..accounts.models import Organization, Role, RoleGrant, User
from ..catalog.models import Course, CourseStatus
from ..claims import services as claims
from ..claims.models import HourClaim
from ..core.audit import record_event
from ..core.clock import utcnow_naive
from ..core.database import advisory_lock
from ..core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from ..core.keys import derive_key, fernet, keyed_hash
from ..credits.models import CreditOrigin, CreditRecord, EntryKind
from ..extensions import db
from . import draw as algorithm
from .models import (
    NATIONAL,
    BaseStatus,
    ContinuingEducationBase,
    FindingResult,
    InspectionAssignment,
    InspectionEntry,
    InspectionPlan,
    InspectionPoolMember,
    InspectionPopulation,
    InspectionStatus,
    Institution,
    InstitutionStatus,
)
from .services import office_scopes, scope_label
from .services import scope_choices as scope_choices
from .text import one_line, refuse_hidden

SEED_PURPOSE = b"inspection-seed"
RECORD_PURPOSE = b"inspection-record"
POOL_PURPOSE = b"inspection-pool"
# Any constant: the key of the PostgreSQL advisory lock that orders freezes (one open plan per kind).
_FREEZE_LOCK_KEY = 0x6778696E73706C  # "gxinspl"
PAGE_SIZE = 200  # population entries per public page
MAX_TARGETS = 500
MAX_INSPECTORS_PER_TARGET = 5


def _signed_in(actor) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise NotAllowed(_("请先登录。"))


def may_run(actor) -> bool:
    return bool(actor is not None and getattr(actor, "is_authenticated", False) and office_scopes(actor))


def _national(actor) -> bool:
    return NATIONAL in office_scopes(actor)


def can_manage(actor, plan: InspectionPlan) -> bool:
    return _national(actor) or plan.scope in office_scopes(actor)


# ---------------------------------------------------------------- loading

def load_plan(actor, plan_id: int) -> InspectionPlan:
    """A plan for the office that runs it (a national office: every plan)."""
    _signed_in(actor)
    plan = db.session.get(InspectionPlan, plan_id)
    if plan is None:
        raise NotFound(_("没有这项抽查计划。"))
    if not can_manage(actor, plan):
        raise NotAllowed(_("这项抽查计划不属于您所在的项目办。"))
    return plan


def plans_for(actor) -> list[InspectionPlan]:
    query = select(InspectionPlan).order_by(InspectionPlan.id.desc())
    if not _national(actor):
        query = query.where(InspectionPlan.scope.in_(office_scopes(actor)))
    return list(db.session.scalars(query))


def public_plans() -> list[InspectionPlan]:
    """Plans whose population and commitment are published (frozen or later)."""
    return list(db.session.scalars(select(InspectionPlan).where(InspectionPlan.status != InspectionStatus.DRAFT,
                                                                InspectionPlan.frozen_at.is_not(None))
                                   .order_by(InspectionPlan.id.desc())))


def public_plan(plan_id: int) -> InspectionPlan:
    plan = db.session.get(InspectionPlan, plan_id)
    if plan is None or plan.status == InspectionStatus.DRAFT or plan.frozen_at is None:  # a draft, or one cancelled as such
        raise NotFound(_("没有这项抽查计划。"))
    return plan


# ---------------------------------------------------------------- 1. a plan

@dataclass(frozen=True)
class PlanData:
    title: str
    scope: str
    population: str
    year: int | str
    target_count: int | str
    inspectors_per_target: int | str = 1


def _whole(value, field: str, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise InvalidInput(_("请填写 %(low)s 到 %(high)s 之间的整数。", low=low, high=high), field=field) from None
    if not low <= number <= high:
        raise InvalidInput(_("请填写 %(low)s 到 %(high)s 之间的整数。", low=low, high=high), field=field)
    return number


def create_plan(actor, data: PlanData) -> InspectionPlan:
    _signed_in(actor)
    if not may_run(actor):
        raise NotAllowed(_("只有项目办和平台管理员可以制定抽查计划。"))
    title = one_line(data.title, "title", _("计划名称"), limit=10_000)
    if not 2 <= len(title) <= 120:
        raise InvalidInput(_("请填写计划名称（2 到 120 个字）。"), field="title")
    scopes = dict(scope_choices(actor))
    if data.scope not in scopes:
        raise InvalidInput(_("请选择您所在项目办的范围（全国或本地区）。"), field="scope")
    try:
        population = InspectionPopulation(data.population or "")
    except ValueError:
        raise InvalidInput(_("请从列表中选择。"), field="population") from None
    year = _whole(data.year, "year", 2000, 2100)
    target_count = _whole(data.target_count, "target_count", 1, MAX_TARGETS)
    per_target = _whole(data.inspectors_per_target, "inspectors_per_target", 1, MAX_INSPECTORS_PER_TARGET)
    plan = InspectionPlan(title=title, scope=data.scope, region_code=None if data.scope == NATIONAL else data.scope,
                          population=population.value, year=year, target_count=target_count,
                          inspectors_per_target=per_target, status=InspectionStatus.DRAFT.value,
                          created_by_id=actor.id)
    db.session.add(plan)
    db.session.flush()
    record_event(actor, "inspection.created", plan, title=title, scope=plan.scope, population=plan.population,
                 year=year, target_count=target_count, inspectors_per_target=per_target)
    return plan


# ---------------------------------------------------------------- 2. freezing

@dataclass(frozen=True)
class Candidate:
    public_id: str
    label: str
    ref_id: int
    organization_id: int | None
    user_id: int | None = None  # a credit record's learner


def candidates(plan: InspectionPlan) -> list[Candidate]:
    """The population of ``plan`` now, in its published order."""
    region = plan.region_code
    kind = InspectionPopulation(plan.population)
    if kind is InspectionPopulation.BASES:
        query = select(ContinuingEducationBase).where(ContinuingEducationBase.status != BaseStatus.WITHDRAWN)
        if region:
            query = query.where(ContinuingEducationBase.region_code == region)
        return [Candidate(f"B{b.id}", b.organization.name, b.id, b.organization_id)
                for b in db.session.scalars(query.order_by(ContinuingEducationBase.id))]
    if kind is InspectionPopulation.INSTITUTIONS:
        query = select(Institution).where(Institution.status == InstitutionStatus.ACTIVE)
        if region:
            query = query.where(Institution.region_code == region)
        found = list(db.session.scalars(query.order_by(Institution.code)))
        codes = [i.credit_code for i in found if i.credit_code]
        orgs = dict(db.session.execute(select(Organization.credit_code, Organization.id)
                                       .where(Organization.credit_code.in_(codes))).all()) if codes else {}
        return [Candidate(i.code, i.name, i.id, orgs.get(i.credit_code)) for i in found]
    if kind is InspectionPopulation.COURSES:
        query = select(Course).where(Course.status == CourseStatus.PUBLISHED)
        if region:
            query = query.join(Organization, Organization.id == Course.publisher_id) \
                .where(Organization.region_code == region)
        return [Candidate(f"{c.code}-v{c.version}", c.title, c.id, c.publisher_id)
                for c in db.session.scalars(query.order_by(Course.code, Course.version))]
    voiding = aliased(CreditRecord)
    query = (select(CreditRecord.id, CreditRecord.user_id, User.employer_id)
             .join(User, User.id == CreditRecord.user_id)
             .where(CreditRecord.credit_year == plan.year, CreditRecord.entry_kind != EntryKind.REVOCATION,
                    ~select(voiding.id).where(voiding.voids_id == CreditRecord.id).exists()))
    if region:
        query = query.where(User.region_code == region)
    key = derive_key(RECORD_PURPOSE)  # once, not per record (keyed_hash derives it on every call)
    return [Candidate("R" + hmac.new(key, f"{plan.id}:{record_id}".encode(), hashlib.sha256).hexdigest()[:20], "",
                      record_id, employer_id, user_id)
            for record_id, user_id, employer_id in db.session.execute(query.order_by(CreditRecord.id))]


def record_pseudonym(plan: InspectionPlan, record_id: int) -> str:
    """(:func:`candidates` computes the same with the key derived once.)"""
    return "R" + keyed_hash(RECORD_PURPOSE, f"{plan.id}:{record_id}")[:20]


def pool_pseudonym(plan: InspectionPlan, user_id: int) -> str:
    """How a credit-record plan publishes an inspector of its pool: a keyed hash, never the name, so
    that an ``exclude`` list (an inspector's own record, or a colleague's) names nobody."""
    return "P" + keyed_hash(POOL_PURPOSE, f"{plan.id}:{user_id}")[:12]


def pseudonymous_pool(plan: InspectionPlan) -> bool:
    return plan.population == InspectionPopulation.CREDIT_RECORDS


def pool_id(plan: InspectionPlan, user_id: int) -> str:
    """An inspector's id in the published document: ``I`` + user id, or a pseudonym (credit records)."""
    return pool_pseudonym(plan, user_id) if pseudonymous_pool(plan) else f"I{user_id}"


def inspector_pool(plan: InspectionPlan) -> list[User]:
    inspectors = select(RoleGrant.user_id).where(RoleGrant.role == Role.INSPECTOR.value)
    query = select(User).where(User.is_active_account.is_(True), User.id.in_(inspectors)) \
        .options(selectinload(User.role_grants)).order_by(User.id)
    if plan.region_code:
        query = query.where(User.region_code == plan.region_code)
    return list(db.session.scalars(query))


def organizations_of(user: User) -> set[int]:
    """The organizations an inspector belongs to: their employer and those they hold a role for."""
    found = {grant.organization_id for grant in user.role_grants if grant.organization_id}
    if user.employer_id:
        found.add(user.employer_id)
    return found


def _excluded(candidate: Candidate, pool: list[User], orgs: list[set[int]]) -> list[int]:
    return [n for n, user in enumerate(pool)
            if (candidate.organization_id is not None and candidate.organization_id in orgs[n])
            or (candidate.user_id is not None and candidate.user_id == user.id)]


def _exclusion_lists(pool: list[User], orgs: list[set[int]]):
    """:func:`_excluded` for a whole population at once: a function of a candidate giving the same
    list, from two lookups (pool positions by organization and by user) instead of a walk of the pool
    for every candidate, and the same list object for candidates barred alike (most are barred from
    nobody)."""
    by_organization: dict[int, set[int]] = {}
    for n, organizations in enumerate(orgs):
        for organization_id in organizations:
            by_organization.setdefault(organization_id, set()).add(n)
    by_user = {user.id: n for n, user in enumerate(pool)}
    shared: dict[tuple, list[int]] = {}

    def excluded(candidate: Candidate) -> list[int]:
        barred = by_organization.get(candidate.organization_id, ()) if candidate.organization_id is not None else ()
        own = by_user.get(candidate.user_id) if candidate.user_id is not None else None
        positions = tuple(sorted({*barred, own} if own is not None else barred))
        if positions not in shared:
            shared[positions] = list(positions)
        return shared[positions]

    return excluded


def lock_plan(plan: InspectionPlan) -> InspectionPlan:
    """``plan`` locked for this transaction and read again (its collections too): of two offices
    freezing, drawing or closing it at once, the second sees the first's step and gets 409."""
    db.session.expire(plan)
    db.session.refresh(plan, with_for_update=True)
    return plan


def _status(plan: InspectionPlan, *expected: InspectionStatus) -> None:
    if plan.status not in {s.value for s in expected}:
        raise Conflict(_("这项抽查计划现在是“%(status)s”，不能进行这一步。",
                         status=InspectionStatus(plan.status).label))


def _open_plan_like(plan: InspectionPlan) -> InspectionPlan | None:
    """Another plan of the same scope, population and year that is frozen or drawn (not closed)."""
    return db.session.scalar(select(InspectionPlan).where(
        InspectionPlan.id != plan.id, InspectionPlan.scope == plan.scope, InspectionPlan.population == plan.population,
        InspectionPlan.year == plan.year,
        InspectionPlan.status.in_([InspectionStatus.FROZEN.value, InspectionStatus.DRAWN.value])))


def population_digest(population: list, pool: list) -> str:
    """SHA-256 of the published population and pool: their JSON with sorted keys, no spaces, UTF-8."""
    text = json.dumps({"population": population, "pool": pool}, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _store_document(plan: InspectionPlan, document: dict) -> None:
    plan.document = json.dumps(document, ensure_ascii=False, separators=(",", ":"))


_ENTRY_COLUMNS = ("plan_id", "position", "public_id", "label", "ref_id", "organization_id", "excluded")


def _insert_entries(rows: list[dict]) -> None:
    """The frozen population in bulk, in this transaction: PostgreSQL's COPY (a hundred thousand
    entries in about a second), elsewhere one executemany."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(insert(InspectionEntry.__table__), rows)
        return
    cursor = connection.connection.driver_connection.cursor()
    written: dict[int, str] = {}  # an exclusion list's JSON by the list's id (lists are shared, see _exclusion_lists)
    with cursor.copy(f"COPY inspection_entry ({', '.join(_ENTRY_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            barred = row["excluded"]
            if id(barred) not in written:
                written[id(barred)] = json.dumps(barred)
            copy.write_row((row["plan_id"], row["position"], row["public_id"], row["label"], row["ref_id"],
                            row["organization_id"], written[id(barred)]))


def freeze_plan(actor, plan: InspectionPlan) -> InspectionPlan:
    """Fix and publish the ordered population, the pool and the seed's commitment: the entries are
    inserted in bulk and the published document written once, here (with its population digest)."""
    if not can_manage(actor, plan):
        raise NotAllowed(_("这项抽查计划不属于您所在的项目办。"))
    advisory_lock(_FREEZE_LOCK_KEY)
    lock_plan(plan)
    _status(plan, InspectionStatus.DRAFT)
    other = _open_plan_like(plan)
    if other is not None:
        raise Conflict(_("同一范围、同类对象、同一年度已有一项抽查计划（“%(title)s”，编号 %(id)s）尚未结束："
                         "须先结束该计划，才能冻结新的计划。", title=other.title, id=other.id))
    found = candidates(plan)
    if not found:
        raise InvalidInput(_("所选范围内没有可抽查的对象，无法冻结。"))
    pool = inspector_pool(plan)
    if not pool:
        raise InvalidInput(_("检查人员名录为空：请先为检查人员授予“检查人员”角色。"))
    excluded = _exclusion_lists(pool, [organizations_of(user) for user in pool])
    rows = [{"plan_id": plan.id, "position": position, "public_id": c.public_id, "label": c.label[:200],
             "ref_id": c.ref_id, "organization_id": c.organization_id, "excluded": excluded(c)}
            for position, c in enumerate(found)]
    _insert_entries(rows)
    for position, user in enumerate(pool):
        db.session.add(InspectionPoolMember(plan_id=plan.id, position=position, user_id=user.id, name=user.real_name))
    seed = secrets.token_bytes(32).hex()
    plan.seed_encrypted = fernet(SEED_PURPOSE).encrypt(seed.encode()).decode()
    plan.commitment = algorithm.commitment(seed)
    plan.status = InspectionStatus.FROZEN.value
    plan.frozen_at = utcnow_naive()
    plan.reveal_after = plan.frozen_at + timedelta(hours=current_app.config["LMS_INSPECTION_REVEAL_DELAY_HOURS"])
    population = [{"id": r["public_id"], "label": r["label"], "exclude": r["excluded"]} for r in rows]
    published_pool = [{"id": pool_id(plan, user.id), "name": "" if pseudonymous_pool(plan) else user.real_name}
                      for user in pool]
    plan.population_sha256 = population_digest(population, published_pool)
    _store_document(plan, _document_head(plan) | {"population": population, "pool": published_pool,
                                                 "seed": None, "draw": None})
    db.session.flush()
    db.session.expire(plan, ["entries", "pool"])
    record_event(actor, "inspection.frozen", plan, commitment=plan.commitment, population=len(found),
                 pool=len(pool), population_sha256=plan.population_sha256,
                 reveal_after=plan.reveal_after.isoformat(timespec="minutes"))
    return plan


# ---------------------------------------------------------------- 3. reveal and draw

def kept_seed(plan: InspectionPlan) -> str:
    return fernet(SEED_PURPOSE).decrypt(plan.seed_encrypted.encode()).decode()


def reveal_and_draw(actor, plan: InspectionPlan, seed: str | None = None) -> InspectionPlan:
    """Reveal the seed (the one kept at freezing unless ``seed`` is given) and draw; a seed whose
    SHA-256 is not the published commitment is refused and nothing changes, and so is a reveal
    before ``reveal_after`` (the delay published at freeze)."""
    if not can_manage(actor, plan):
        raise NotAllowed(_("这项抽查计划不属于您所在的项目办。"))
    lock_plan(plan)
    _status(plan, InspectionStatus.FROZEN)
    if plan.reveal_after is not None and utcnow_naive() < plan.reveal_after:
        raise Conflict(_("冻结后须等到 %(when)s（UTC）才能公开种子并抽取：承诺值公开的时间须足以让公众看到。",
                         when=plan.reveal_after.isoformat(sep=" ", timespec="minutes")))
    seed = (seed if seed is not None else kept_seed(plan)).strip().lower()
    if len(seed) != 64 or any(c not in "0123456789abcdef" for c in seed) \
            or algorithm.commitment(seed) != plan.commitment:
        raise InvalidInput(_("种子与冻结时公布的承诺值不符，不能用它抽取。"), field="seed")
    plan.seed = seed
    document = published_document(plan)  # as frozen: the draw is computed from what was published
    excluded = [entry["exclude"] for entry in document["population"]]
    pool = list(plan.pool)
    rows = algorithm.draw(seed, len(excluded), plan.target_count, len(pool), plan.inspectors_per_target, excluded)
    positions = [position for position, _taken in rows]
    entries = {e.position: e for e in db.session.scalars(select(InspectionEntry).where(
        InspectionEntry.plan_id == plan.id, InspectionEntry.position.in_(positions)))}
    # The exclusions were published at freeze; a role granted or a job taken since then must not put
    # an inspector on their own organization either. The draw cannot change (it is what anyone
    # recomputes from the published document), so such a draw is refused, and nothing is revealed.
    inspectors = {u.id: u for u in db.session.scalars(
        select(User).where(User.id.in_({pool[p].user_id for _position, taken in rows for p in taken}))
        .options(selectinload(User.role_grants)))}
    for position, taken in rows:
        for pool_position in taken:
            if conflicted(inspectors[pool[pool_position].user_id], entries[position]):
                raise Conflict(_("职责分离：检查人员“%(name)s”在冻结后成为被抽中对象所属单位的人员（或取得了该单位的角色），"
                                 "不能检查该对象，本次未抽取。请撤销该角色（或待其离开该单位）后再公开种子并抽取；"
                                 "也可以另行制定抽查计划。", name=pool[pool_position].name))
    for order, (position, taken) in enumerate(rows):
        entry = entries[position]
        entry.drawn_order = order
        for pool_position in taken:
            db.session.add(InspectionAssignment(plan_id=plan.id, entry=entry, draw_order=order,
                                                inspector_id=pool[pool_position].user_id))
    plan.status = InspectionStatus.DRAWN.value
    plan.drawn_at = utcnow_naive()
    document["seed"] = seed
    document["draw"] = [{"target": entries[p].public_id, "inspectors": [pool_id(plan, pool[i].user_id) for i in taken]}
                        for p, taken in rows]
    _store_document(plan, document)
    db.session.flush()
    db.session.expire(plan, ["assignments", "entries"])
    record_event(actor, "inspection.drawn", plan, seed=seed, targets=[entries[p].public_id for p, _t in rows],
                 unstaffed=[entries[p].public_id for p, taken in rows if not taken])
    return plan


def _document_head(plan: InspectionPlan) -> dict:
    return {"format": algorithm.FORMAT, "plan": plan.id, "title": plan.title, "scope": plan.scope,
            "population_kind": plan.population, "year": plan.year, "commitment": plan.commitment,
            "population_sha256": plan.population_sha256,
            "reveal_after": plan.reveal_after.isoformat(timespec="minutes") if plan.reveal_after else None,
            "targets": plan.target_count, "inspectors_per_target": plan.inspectors_per_target}


def document_text(plan: InspectionPlan) -> str:
    """The published document of a frozen plan as stored (built for a plan frozen before it was stored)."""
    if plan.document:
        return plan.document
    return json.dumps(_built_document(plan), ensure_ascii=False, separators=(",", ":"))


def published_document(plan: InspectionPlan) -> dict:
    """What is published of a frozen plan, in the format scripts/verify_draw.py reads."""
    return json.loads(plan.document) if plan.document else _built_document(plan)


def _built_document(plan: InspectionPlan) -> dict:
    document = _document_head(plan) | {
        "population": [{"id": e.public_id, "label": e.label, "exclude": list(e.excluded)} for e in plan.entries],
        "pool": [{"id": pool_id(plan, m.user_id), "name": "" if pseudonymous_pool(plan) else m.name}
                 for m in plan.pool],
        "seed": plan.seed, "draw": None,
    }
    if plan.seed:
        inspectors: dict[int, list[str]] = {}
        for a in plan.assignments:
            inspectors.setdefault(a.entry_id, []).append(pool_id(plan, a.inspector_id))
        drawn = sorted((e for e in plan.entries if e.drawn_order is not None), key=lambda e: e.drawn_order)
        document["draw"] = [{"target": e.public_id, "inspectors": inspectors.get(e.id, [])} for e in drawn]
    return document


@dataclass(frozen=True)
class DrawCheck:
    commitment_matches: bool
    draw_matches: bool
    recomputed: list


_checks: dict[tuple, DrawCheck] = {}


def check_draw(plan: InspectionPlan) -> DrawCheck | None:
    """Recompute the published draw from the published document (None: the seed is not revealed).
    Computed once per plan and draw in this process: the document does not change after the draw."""
    if not plan.seed:
        return None
    key = (plan.id, plan.seed, plan.drawn_at)
    if key not in _checks:
        document = published_document(plan)
        recomputed = algorithm.draw_document(document)
        if len(_checks) > 64:
            _checks.clear()
        _checks[key] = DrawCheck(algorithm.commitment(document["seed"]) == document["commitment"]
                                 and (not document.get("population_sha256") or population_digest(
                                     document["population"], document["pool"]) == document["population_sha256"]),
                                 recomputed == document["draw"], recomputed)
    return _checks[key]


def population_page(plan: InspectionPlan, page: int) -> tuple[list[InspectionEntry], int]:
    """One page of the published population (``PAGE_SIZE`` entries, 1 first) and the number of pages."""
    total = population_size(plan)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    entries = list(db.session.scalars(select(InspectionEntry).where(InspectionEntry.plan_id == plan.id)
                                      .order_by(InspectionEntry.position)
                                      .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
    return entries, pages


def population_size(plan: InspectionPlan) -> int:
    return db.session.scalar(select(func.count()).select_from(InspectionEntry)
                             .where(InspectionEntry.plan_id == plan.id)) or 0


# ---------------------------------------------------------------- 4. findings

def assignments_of(actor) -> list[InspectionAssignment]:
    _signed_in(actor)
    return list(db.session.scalars(select(InspectionAssignment).where(InspectionAssignment.inspector_id == actor.id)
                                   .order_by(InspectionAssignment.plan_id.desc(), InspectionAssignment.draw_order)))


def load_assignment(actor, assignment_id: int) -> InspectionAssignment:
    """An assignment for its own inspector only."""
    _signed_in(actor)
    assignment = db.session.get(InspectionAssignment, assignment_id)
    if assignment is None:
        raise NotFound(_("没有这项检查任务。"))
    if assignment.inspector_id != actor.id:
        raise NotAllowed(_("这项检查任务不是分配给您的。"))
    return assignment


def conflicted(user: User, entry: InspectionEntry) -> bool:
    """Whether ``user`` may not inspect ``entry`` now (separation of duties): they are employed by,
    or hold a role for, the target's organization, or are the learner of the credit record."""
    if entry.organization_id is not None and entry.organization_id in organizations_of(user):
        return True
    if entry.plan.population == InspectionPopulation.CREDIT_RECORDS:
        record = db.session.get(CreditRecord, entry.ref_id)
        return record is not None and record.user_id == user.id
    return False


def _ensure_independent(actor, entry: InspectionEntry) -> None:
    """The separation-of-duties rule of the draw, checked again when the finding is recorded: an
    inspector who has since joined the target's organization (or is the learner of the record) may
    not judge it. (lms/core/duties.py's message speaks of having made the thing, which does not fit.)"""
    if conflicted(actor, entry):
        raise NotAllowed(_("职责分离：被检查对象属于您所在的单位（或是您本人的记录），您不能对其录入检查结果。"
                           "请联系项目办另行安排。"))


def record_finding(actor, assignment: InspectionAssignment, result: str, notes: str) -> InspectionAssignment:
    if assignment.inspector_id != getattr(actor, "id", None) or not actor.has_role(Role.INSPECTOR):
        raise NotAllowed(_("这项检查任务不是分配给您的。"))
    _status(lock_plan(assignment.plan), InspectionStatus.DRAWN)  # not after a concurrent close
    _ensure_independent(actor, assignment.entry)
    try:
        result = FindingResult(result or "")
        if result is FindingResult.NOT_INSPECTED:  # the office's record of a task nobody could do
            raise ValueError(result)
    except ValueError:
        raise InvalidInput(_("请从列表中选择检查结果。"), field="result") from None
    notes = (notes or "").strip()
    refuse_hidden(notes, "notes", _("检查说明"))
    if len(notes) > 2000:
        raise InvalidInput(_("检查说明不能超过 2000 个字。"), field="notes")
    if result is not FindingResult.COMPLIANT and len(notes) < 4:
        raise InvalidInput(_("发现问题或无法核查时，请填写检查说明（至少 4 个字）。"), field="notes")
    assignment.result, assignment.notes, assignment.recorded_at = result.value, notes, utcnow_naive()
    db.session.flush()
    record_event(actor, "inspection.finding", assignment, plan=assignment.plan_id, entry=assignment.entry.public_id,
                 result=result.value)
    return assignment


def target_object(entry: InspectionEntry):
    model = {InspectionPopulation.BASES: ContinuingEducationBase, InspectionPopulation.INSTITUTIONS: Institution,
             InspectionPopulation.COURSES: Course, InspectionPopulation.CREDIT_RECORDS: CreditRecord}
    return db.session.get(model[InspectionPopulation(entry.plan.population)], entry.ref_id)


# ---------------------------------------------------------------- 5. closing

def close_plan(actor, plan: InspectionPlan) -> InspectionPlan:
    if not can_manage(actor, plan):
        raise NotAllowed(_("这项抽查计划不属于您所在的项目办。"))
    lock_plan(plan)
    _status(plan, InspectionStatus.DRAWN)
    missing = [a for a in plan.assignments if a.result is None]
    if missing:
        raise InvalidInput(_("还有 %(n)s 项检查结果未录入，不能结束计划。", n=len(missing)))
    plan.status = InspectionStatus.CLOSED.value
    plan.closed_at = utcnow_naive()
    db.session.flush()
    record_event(actor, "inspection.closed", plan, findings=len(plan.assignments))
    return plan


# ---------------------------------------------------------------- cancelling

def cancel_plan(actor, plan: InspectionPlan, reason: str) -> InspectionPlan:
    """The office withdraws a plan that has not closed, with a reason (2 to 500 characters). A plan
    cancelled after its freeze stays on the public page as 已撤销 with the date and the reason: its
    commitment (and, once drawn, its seed and draw) stay published, so that cancelling a plan whose
    draw displeases is seen by everyone (一公开). Findings recorded so far are not published. A closed
    plan cannot be cancelled: its results are public."""
    if not can_manage(actor, plan):
        raise NotAllowed(_("这项抽查计划不属于您所在的项目办。"))
    lock_plan(plan)
    if plan.status == InspectionStatus.CLOSED:
        raise Conflict(_("这项抽查计划已结束，检查结果已公开，不能撤销。"))
    _status(plan, InspectionStatus.DRAFT, InspectionStatus.FROZEN, InspectionStatus.DRAWN)
    reason = " ".join((reason or "").split())
    if not 2 <= len(reason) <= 500:
        raise InvalidInput(_("请填写撤销原因（2 到 500 个字）。"), field="reason")
    was = plan.status
    plan.status = InspectionStatus.CANCELLED.value
    plan.cancelled_at, plan.cancel_reason = utcnow_naive(), reason
    db.session.flush()
    record_event(actor, "inspection.cancelled", plan, reason=reason, was=was)
    return plan


def inspector_left(assignment: InspectionAssignment) -> bool:
    """The drawn inspector can no longer record: their account is disabled, the role revoked, or
    they have since joined the target's organization (separation of duties: they may not record,
    so the office closes the task, or the plan could never close)."""
    inspector = assignment.inspector
    return not inspector.is_active_account or not inspector.has_role(Role.INSPECTOR) \
        or conflicted(inspector, assignment.entry)


def load_plan_assignment(actor, plan: InspectionPlan, assignment_id: int) -> InspectionAssignment:
    assignment = db.session.get(InspectionAssignment, assignment_id)
    if assignment is None or assignment.plan_id != plan.id:
        raise NotFound(_("没有这项检查任务。"))
    return assignment


def mark_not_inspected(actor, assignment: InspectionAssignment, reason: str) -> InspectionAssignment:
    """The office closes the task of a drawn inspector who has left (account disabled or role
    revoked) as "未检查：检查人员已离任", with its reason; published with the other findings. No
    other inspector is put in their place: the draw stays the published one, and the plan can close."""
    plan = assignment.plan
    if not can_manage(actor, plan):
        raise NotAllowed(_("这项抽查计划不属于您所在的项目办。"))
    lock_plan(plan)
    _status(plan, InspectionStatus.DRAWN)
    db.session.refresh(assignment)
    if assignment.result is not None:
        raise Conflict(_("这项检查结果已录入。"))
    if not inspector_left(assignment):
        raise Conflict(_("该检查人员仍在任，应由其本人录入检查结果。"))
    reason = one_line(reason, "reason", _("原因"), limit=10_000)
    if not 4 <= len(reason) <= 500:
        raise InvalidInput(_("请填写原因（4 到 500 个字），原因将随检查结果公开。"), field="reason")
    assignment.result, assignment.notes = FindingResult.NOT_INSPECTED.value, reason
    assignment.recorded_at = utcnow_naive()
    db.session.flush()
    record_event(actor, "inspection.not_inspected", assignment, plan=plan.id, entry=assignment.entry.public_id,
                 inspector=assignment.inspector_id, reason=reason)
    return assignment


def public_notes(assignment: InspectionAssignment) -> str:
    """What is published of a finding's notes: nothing for a credit record (the notes may name the
    learner; they stay with the office), the office's reason for a task not inspected, else the notes."""
    if assignment.result == FindingResult.NOT_INSPECTED:
        return assignment.notes
    return "" if pseudonymous_pool(assignment.plan) else assignment.notes


def public_inspector(assignment: InspectionAssignment) -> str:
    if pseudonymous_pool(assignment.plan):
        return pool_pseudonym(assignment.plan, assignment.inspector_id)
    return assignment.inspector.real_name


def public_findings(plan: InspectionPlan) -> list[InspectionAssignment]:
    """The findings of a closed plan (一公开); nothing before it is closed."""
    return list(plan.assignments) if plan.status == InspectionStatus.CLOSED else []


def scope_name(plan: InspectionPlan) -> str:
    return scope_label(plan.scope)



# ---------------------------------------------------------------- the evidence behind a credit record

@dataclass(frozen=True)
class LessonEvidence:
    title: str
    watched_intervals: list
    watched_seconds: float
    credited_seconds: float
    not_counted: dict
    sessions: list  # PlaySession rows: started, last beat, attention checks passed / missed


@dataclass(frozen=True)
class RecordEvidence:
    record: CreditRecord
    learner: User
    lessons: list[LessonEvidence]
    attempts: list  # QuizAttempt rows
    claim: HourClaim | None = None  # for an entry of origin external_claim: the claim, its steps and evidence


def record_evidence(actor, assignment: InspectionAssignment) -> RecordEvidence | None:
    """For the drawn inspector of a credit record: the play sessions, credited intervals, attention
    checks and exam attempts behind it (None for other populations). Each showing is audited
    (``inspection.evidence_viewed``: who saw which learner's record, and when)."""
    if assignment.inspector_id != getattr(actor, "id", None):
        raise NotAllowed(_("这项检查任务不是分配给您的。"))
    if assignment.plan.population != InspectionPopulation.CREDIT_RECORDS:
        return None
    # deferred: the learning models are needed only for this one reader
    from ..catalog.models import Lesson
    from ..learning.models import Enrollment, LessonProgress, PlaySession, QuizAttempt
    record = db.session.get(CreditRecord, assignment.entry.ref_id)
    record_event(actor, "inspection.evidence_viewed", assignment, plan=assignment.plan_id,
                 entry=assignment.entry.public_id, record=record.id, learner=record.user_id)
    if record.origin == CreditOrigin.EXTERNAL_CLAIM:
        claim = db.session.get(HourClaim, int(record.source_id)) if record.source_type == claims.SOURCE_TYPE else None
        return RecordEvidence(record, db.session.get(User, record.user_id), [], [], claim)
    enrollments = [e.id for e in db.session.scalars(select(Enrollment).where(
        Enrollment.user_id == record.user_id, Enrollment.course_id == record.course_id))]
    lessons = []
    progress_rows = db.session.execute(
        select(LessonProgress, Lesson.title).join(Lesson, Lesson.id == LessonProgress.lesson_id)
        .where(LessonProgress.enrollment_id.in_(enrollments)).order_by(LessonProgress.id)).all() if enrollments else []
    for progress, title in progress_rows:
        sessions = list(db.session.scalars(select(PlaySession).where(PlaySession.progress_id == progress.id)
                                           .order_by(PlaySession.started_at)))
        lessons.append(LessonEvidence(title, list(progress.watched_intervals or []), progress.watched_seconds,
                                      progress.credited_seconds, dict(progress.not_counted or {}), sessions))
    attempts = list(db.session.scalars(select(QuizAttempt).where(
        QuizAttempt.user_id == record.user_id, QuizAttempt.course_id == record.course_id)
        .order_by(QuizAttempt.started_at)))
    return RecordEvidence(record, db.session.get(User, record.user_id), lessons, attempts)


def inspector_sees_claim(actor, claim: HourClaim) -> bool:
    """The inspector drawn for a ledger entry a claim produced sees the claim and opens its evidence."""
    if not actor.has_role(Role.INSPECTOR):
        return False
    records = select(CreditRecord.id).where(CreditRecord.source_type == claims.SOURCE_TYPE,
                                            CreditRecord.source_id == str(claim.id))
    return db.session.scalar(
        select(InspectionAssignment.id).join(InspectionEntry, InspectionEntry.id == InspectionAssignment.entry_id)
        .join(InspectionPlan, InspectionPlan.id == InspectionAssignment.plan_id)
        .where(InspectionAssignment.inspector_id == actor.id,
               InspectionPlan.population == InspectionPopulation.CREDIT_RECORDS,
               InspectionEntry.ref_id.in_(records)).limit(1)) is not None


claims.add_viewer(inspector_sees_claim)
