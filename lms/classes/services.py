"""Programmes, applications, sessions and attendance (issue 18 items 1–2).

The path of a programme:

1. A host (a BASE_ADMIN of a base or training institution) creates a programme — an advanced seminar
   (高级研修) or a face-to-face class (面授培训) — with its dates, place, category, quota, the lowest
   title level an applicant must hold, and the share of sessions that completes the programme (结业); then
   adds sessions, each with its local start and end time and its hours.
2. Learners apply with a short statement and the priority groups they belong to (革命老区, 边疆地区,
   民族地区, 基层一线); eligibility is checked against the title level on their profile.
3. The host selects from a ranked list (more priority groups first, then the earlier application),
   at most the quota; the rest are declined. Every applicant sees the result on 我的研修与培训.
4. During a session the host's screen shows a QR code: a signed token naming the session and the
   20-second slot it was issued in, rotating every :data:`ROTATE_SECONDS` and accepted for at most
   :data:`TOKEN_LIFETIME_SECONDS`. An accepted learner who scans it inside the session's window is
   recorded once; the host may also record a learner by hand, with a reason. By the learner's rule set
   (``RuleSet.class_credit``) each attendance credits the session's hours to the ledger (origin
   ``seminar`` or ``class``, source ``class_attendance``), or — credited per programme (结业计学时) —
   nothing until the learner has attended the programme's required share of sessions, when one entry
   credits the programme's hours (the sum of its sessions', source ``class_programme``). Either way
   once: the ledger lock is taken before the learner's attendance is looked up, so a retried or
   doubled scan finds the first one and credits nothing again (and a unique index allows one
   programme entry per learner).

Threat model (also in README "Seminars and face-to-face classes"): the rotating code proves that the
person scanning saw the screen within the last 30 seconds, not that they are in the room — a photo
relayed to someone elsewhere within its lifetime beats it. The host's live count beside the code is
the second check: the host compares it with the heads in the room.

Services flush; the edge commits. Audit events: ``class.programme_created``, ``class.session_added``,
``class.applied``, ``class.selected``, ``class.attendance_scan``, ``class.attendance_manual``.
"""

import base64
import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

import qrcode
from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select

from ..accounts.models import Organization, Role, TitleLevel, User
from ..catalog.models import Category
from ..certificates import services as certificates
from ..core.audit import record_event
from ..core.clock import local_date, local_zone, now, utcnow_naive
from ..core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from ..core.formatting import format_hours
from ..credits import services as ledger
from ..credits.models import ClassCredit, CreditRecord, EntryKind
from ..extensions import db
from .models import (
    ApplicationStatus,
    AttendanceMethod,
    ClassApplication,
    ClassAttendance,
    ClassProgramme,
    ClassSession,
    PriorityGroup,
    ProgrammeKind,
    ProgrammeStatus,
)

ROTATE_SECONDS = 20  # the screen shows a new code this often
TOKEN_LIFETIME_SECONDS = 30  # a code is accepted this long after its slot began
SOURCE_TYPE = "class_attendance"
PROGRAMME_SOURCE_TYPE = "class_programme"
HOURS_MIN, HOURS_MAX = Decimal("0.5"), Decimal(12)
MINUTES_PER_HOUR = 45  # one 学时 is at least this long: a session earns no more hours than it lasts
_SALT = "lms-class-attendance"


@dataclass(frozen=True)
class ProgrammeData:
    """What the host typed; strings, checked by :func:`validate_programme`."""

    organization_id: str | int
    kind: str
    title: str
    domain: str
    place: str
    starts_on: str | date
    ends_on: str | date
    category: str
    quota: str | int
    min_title_level: str
    required_percent: str | int
    description: str


@dataclass(frozen=True)
class SessionData:
    title: str
    day: str | date
    starts: str  # local "HH:MM"
    ends: str
    hours: str


# ---------------------------------------------------------------- checking input

_HOURS = re.compile(r"\d{1,2}(\.\d+)?", re.ASCII)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def _visible(raw) -> str:
    """Text as others will see it: control and format characters (zero-width spaces, bidi overrides
    that would show a title reversed, on a certificate too) removed, line breaks kept."""
    return "".join(c for c in str(raw or "") if unicodedata.category(c) not in ("Cc", "Cf") or c.isspace())


def _text(raw, low: int, high: int, message: str, field: str) -> str:
    value = " ".join(_visible(raw).split())
    if not low <= len(value) <= high:
        raise InvalidInput(message, field=field)
    return value


def _day(raw, field: str) -> date:
    if isinstance(raw, date):
        return raw
    text = unicodedata.normalize("NFKC", str(raw or "")).strip()
    try:
        if not _DAY.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(_("请按“年-月-日”填写日期，如 2026-05-20。"), field=field) from None


def _whole(raw, low: int, high: int, message: str, field: str) -> int:
    try:
        value = int(str(raw if raw is not None else "").strip())
    except ValueError:
        raise InvalidInput(message, field=field) from None
    if not low <= value <= high:
        raise InvalidInput(message, field=field)
    return value


def parse_hours(raw, *, field: str = "hours") -> Decimal:
    """Plain decimal notation only (``4``, ``1.5``): no exponent, no ``1_0``, no infinity."""
    text = unicodedata.normalize("NFKC", str(raw if raw is not None else "")).strip()
    if not _HOURS.fullmatch(text):
        raise InvalidInput(_("学时应为数字，如 4 或 1.5。"), field=field)
    hours = Decimal(text)
    if hours != hours.quantize(Decimal("0.1")):
        raise InvalidInput(_("学时应为数字，最多一位小数，如 4 或 1.5。"), field=field)
    if not HOURS_MIN <= hours <= HOURS_MAX:
        raise InvalidInput(_("每次课的学时应在 %(low)s–%(high)s 学时之间。", low=format_hours(HOURS_MIN),
                             high=format_hours(HOURS_MAX)), field=field)
    return hours


def validate_programme(actor, data: ProgrammeData) -> dict:
    try:
        organization_id = int(data.organization_id)
    except (TypeError, ValueError):
        organization_id = None
    if organization_id not in host_organization_ids(actor):
        raise InvalidInput(_("请选择您担任管理员的基地或机构作为主办方。"), field="organization_id")
    if data.kind not in {k.value for k in ProgrammeKind}:
        raise InvalidInput(_("请选择项目类型：高级研修或面授培训。"), field="kind")
    title = _text(data.title, 2, 120, _("请填写 2–120 个字的项目名称。"), "title")
    domain = _text(data.domain, 2, 60, _("请填写 2–60 个字的专业领域，如“人工智能”。"), "domain")
    place = _text(data.place, 2, 120, _("请填写 2–120 个字的举办地点。"), "place")
    starts_on, ends_on = _day(data.starts_on, "starts_on"), _day(data.ends_on, "ends_on")
    today = local_date(utcnow_naive())
    earliest, latest = date(today.year - 1, 1, 1), date(today.year + 2, 12, 31)
    if not earliest <= starts_on <= latest:
        raise InvalidInput(_("开始日期应在 %(earliest)s 至 %(latest)s 之间。", earliest=earliest.isoformat(),
                             latest=latest.isoformat()), field="starts_on")
    if ends_on < starts_on:
        raise InvalidInput(_("结束日期不能早于开始日期。"), field="ends_on")
    if (ends_on - starts_on).days > 366:
        raise InvalidInput(_("一个项目最长一年，请分成几个项目。"), field="ends_on")
    if data.category not in {c.value for c in Category}:
        raise InvalidInput(_("请选择科目类别：公需、专业或选修。"), field="category")
    quota = _whole(data.quota, 1, 1000, _("名额应为 1–1000 之间的整数。"), "quota")
    level = (data.min_title_level or "").strip() or None
    if level is not None and level not in {t.value for t in TitleLevel}:
        raise InvalidInput(_("请选择报名要求的职称级别，或选择“不限”。"), field="min_title_level")
    percent = _whole(data.required_percent, 1, 100, _("结业要求的出勤比例应为 1–100 之间的整数（百分比）。"),
                     "required_percent")
    description = _visible(data.description).strip()
    if not 5 <= len(description) <= 2000:
        raise InvalidInput(_("请用 5–2000 个字介绍项目内容和对象。"), field="description")
    return dict(organization_id=organization_id, kind=data.kind, title=title, domain=domain, place=place,
                starts_on=starts_on, ends_on=ends_on, category=data.category, quota=quota, min_title_level=level,
                required_percent=percent, description=description)


def _local_to_utc(day: date, raw: str, field: str) -> datetime:
    try:
        clock = time.fromisoformat(str(raw or "").strip())
    except ValueError:
        raise InvalidInput(_("请按“时:分”填写时间，如 09:00。"), field=field) from None
    local = datetime.combine(day, clock.replace(second=0, microsecond=0), tzinfo=local_zone())
    return local.astimezone(UTC).replace(tzinfo=None)


# ---------------------------------------------------------------- who hosts

def host_organization_ids(actor) -> set[int]:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return set()
    return {g.organization_id for g in actor.grants_for(Role.BASE_ADMIN) if g.organization_id}


def host_organizations(actor) -> list[Organization]:
    ids = host_organization_ids(actor)
    if not ids:
        return []
    return list(db.session.scalars(select(Organization).where(Organization.id.in_(ids)).order_by(Organization.id)))


def is_host(actor, programme: ClassProgramme) -> bool:
    return programme.organization_id in host_organization_ids(actor)


def _programme(programme_id: int, *, lock: bool = False) -> ClassProgramme:
    """The programme; with ``lock``, its row locked and re-read (the page may have loaded it before the
    lock was granted: its status then is what another request changed it to while this one waited)."""
    query = select(ClassProgramme).where(ClassProgramme.id == programme_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    programme = db.session.scalar(query)
    if programme is None:
        raise NotFound(_("没有找到这个项目。"))
    return programme


def programme_to_manage(actor, programme_id: int, *, lock: bool = False) -> ClassProgramme:
    programme = _programme(programme_id, lock=lock)
    if not is_host(actor, programme):
        raise NotAllowed(_("只有主办基地或机构的管理员可以管理这个项目。"))
    return programme


def session_to_manage(actor, session_id: int) -> ClassSession:
    session = db.session.get(ClassSession, session_id)
    if session is None:
        raise NotFound(_("没有找到这次课。"))
    if not is_host(actor, session.programme):
        raise NotAllowed(_("只有主办基地或机构的管理员可以管理这次课的签到。"))
    return session


def hosted_programmes(actor) -> list[ClassProgramme]:
    ids = host_organization_ids(actor)
    if not ids:
        raise NotAllowed(_("只有基地或机构的管理员可以举办研修和培训项目。"))
    return list(db.session.scalars(select(ClassProgramme).where(ClassProgramme.organization_id.in_(ids))
                                   .order_by(ClassProgramme.starts_on.desc(), ClassProgramme.id.desc())))


# ---------------------------------------------------------------- the host's programme and sessions

def create_programme(actor, data: ProgrammeData) -> ClassProgramme:
    if not host_organization_ids(actor):
        raise NotAllowed(_("只有基地或机构的管理员可以举办研修和培训项目。"))
    programme = ClassProgramme(**validate_programme(actor, data), created_by_id=actor.id,
                               status=ProgrammeStatus.OPEN)
    db.session.add(programme)
    db.session.flush()
    record_event(actor, "class.programme_created", programme, kind=programme.kind, quota=programme.quota,
                 organization=programme.organization_id)
    return programme


def add_session(actor, programme: ClassProgramme, data: SessionData) -> ClassSession:
    if not is_host(actor, programme):
        raise NotAllowed(_("只有主办基地或机构的管理员可以管理这个项目。"))
    title = _text(data.title, 2, 120, _("请填写 2–120 个字的课次名称，如“第一讲 数据安全”。"), "title")
    day = _day(data.day, "day")
    if not programme.starts_on <= day <= programme.ends_on:
        raise InvalidInput(_("上课日期应在项目的举办日期内（%(start)s 至 %(end)s）。", start=programme.starts_on.isoformat(),
                             end=programme.ends_on.isoformat()), field="day")
    starts_at, ends_at = _local_to_utc(day, data.starts, "starts"), _local_to_utc(day, data.ends, "ends")
    if ends_at <= starts_at:
        raise InvalidInput(_("下课时间应晚于上课时间。"), field="ends")
    hours = parse_hours(data.hours)
    minutes = int((ends_at - starts_at).total_seconds()) // 60
    if hours * MINUTES_PER_HOUR > minutes:
        raise InvalidInput(_("这次课 %(minutes)s 分钟，最多记 %(most)s 学时（每学时不少于 %(per)s 分钟）。",
                             minutes=minutes, most=format_hours(Decimal(minutes * 10 // MINUTES_PER_HOUR) / 10),
                             per=MINUTES_PER_HOUR), field="hours")
    clash = db.session.scalar(select(ClassSession).where(
        ClassSession.programme_id == programme.id, ClassSession.starts_at < ends_at, ClassSession.ends_at > starts_at)
        .limit(1))
    if clash is not None:
        raise InvalidInput(_("这次课与“%(title)s”的时间重叠：同一项目的课次不能同时上。", title=clash.title), field="starts")
    session = ClassSession(programme_id=programme.id, title=title, starts_at=starts_at, ends_at=ends_at, hours=hours)
    db.session.add(session)
    db.session.flush()
    record_event(actor, "class.session_added", session, programme=programme.id, hours=str(hours),
                 starts_at=starts_at.isoformat(), ends_at=ends_at.isoformat())
    return session


# ---------------------------------------------------------------- applying and selecting

def open_programmes() -> list[ClassProgramme]:
    return list(db.session.scalars(select(ClassProgramme).order_by(ClassProgramme.starts_on.desc(),
                                                                   ClassProgramme.id.desc())))


def public_programme(programme_id: int) -> ClassProgramme:
    return _programme(programme_id)


def application_of(actor, programme: ClassProgramme) -> ClassApplication | None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None
    return db.session.scalar(select(ClassApplication).where(ClassApplication.programme_id == programme.id,
                                                            ClassApplication.user_id == actor.id))


def eligibility_problem(actor: User, programme: ClassProgramme) -> str | None:
    """Why ``actor`` may not apply (None: they may)."""
    if programme.status != ProgrammeStatus.OPEN:
        return _("这个项目已确定录取学员，不再接受报名。")
    if is_host(actor, programme):
        return _("主办方管理员不能报名本机构的项目。")
    if programme.min_title_level:
        need = TitleLevel(programme.min_title_level)
        held = TitleLevel(actor.title_level) if actor.title_level else None
        if held is None:
            return _("本项目要求%(level)s及以上职称。请先在个人信息中填写职称级别。", level=need.label)
        if held.rank < need.rank:
            return _("本项目要求%(level)s及以上职称，您填写的是%(held)s。", level=need.label, held=held.label)
    return None


def apply(actor: User, programme_id: int, *, statement: str, groups: list[str]) -> ClassApplication:
    programme = _programme(programme_id, lock=True)
    if application_of(actor, programme) is not None:
        raise Conflict(_("您已报名这个项目，结果会显示在“我的研修与培训”中。"))
    problem = eligibility_problem(actor, programme)
    if problem:
        raise NotAllowed(problem) if programme.status == ProgrammeStatus.OPEN else Conflict(problem)
    statement = _visible(statement).strip()
    if not 10 <= len(statement) <= 1000:
        raise InvalidInput(_("请用 10–1000 个字说明报名理由：您的岗位、参加研修的需要。"), field="statement")
    known = {g.value for g in PriorityGroup}
    if any(g not in known for g in groups or ()):
        raise InvalidInput(_("请从列出的优先群体中选择。"), field="groups")
    chosen = [g.value for g in PriorityGroup if g.value in set(groups or ())]
    application = ClassApplication(programme_id=programme.id, user_id=actor.id, statement=statement,
                                   priority_groups=",".join(chosen), title_level=actor.title_level,
                                   status=ApplicationStatus.APPLIED)
    db.session.add(application)
    db.session.flush()
    record_event(actor, "class.applied", application, programme=programme.id, groups=chosen)
    return application


def ranked_applications(programme: ClassProgramme) -> list[ClassApplication]:
    """The selection list: more priority groups first, then who applied earlier."""
    return sorted(programme.applications, key=lambda a: (-len(a.groups), a.created_at, a.id))


def select_applicants(actor, programme_id: int, application_ids: list[int]) -> ClassProgramme:
    """Accept the chosen applications (at most the quota) and decline the others; the programme then
    takes no more applications."""
    programme = programme_to_manage(actor, programme_id, lock=True)
    if programme.status != ProgrammeStatus.OPEN:
        raise Conflict(_("这个项目已确定录取学员，不能再次遴选。"))
    waiting = {a.id: a for a in db.session.scalars(
        select(ClassApplication).where(ClassApplication.programme_id == programme.id,
                                       ClassApplication.status == ApplicationStatus.APPLIED)
        .execution_options(populate_existing=True))}
    chosen = set(application_ids or ())
    if not chosen:
        raise InvalidInput(_("请至少选择一名录取学员。"), field="applications")
    if not chosen <= set(waiting):
        raise InvalidInput(_("所选报名不属于这个项目，请刷新页面后重新选择。"), field="applications")
    if len(chosen) > programme.quota:
        raise InvalidInput(_("录取 %(n)s 人超过了名额（%(quota)s 人），请减少人选。", n=len(chosen), quota=programme.quota),
                           field="applications")
    at = utcnow_naive()
    for application in waiting.values():
        application.status = ApplicationStatus.ACCEPTED if application.id in chosen else ApplicationStatus.DECLINED
        application.decided_at, application.decided_by_id = at, actor.id
    programme.status = ProgrammeStatus.SELECTED
    db.session.flush()
    record_event(actor, "class.selected", programme, accepted=sorted(chosen),
                 declined=sorted(set(waiting) - chosen))
    return programme


def my_applications(actor) -> list[ClassApplication]:
    return list(db.session.scalars(select(ClassApplication).where(ClassApplication.user_id == actor.id)
                                   .order_by(ClassApplication.id.desc())))


def attendances_of(user_id: int, programme: ClassProgramme) -> dict[int, ClassAttendance]:
    """The learner's attendance per session id of the programme."""
    ids = [s.id for s in programme.sessions]
    if not ids:
        return {}
    return {a.session_id: a for a in db.session.scalars(select(ClassAttendance).where(
        ClassAttendance.user_id == user_id, ClassAttendance.session_id.in_(ids)))}


def completed(programme: ClassProgramme, attended: int) -> bool:
    """Whether ``attended`` sessions reach the programme's required share (rounded up: 80 % of 3 is 3)."""
    total = len(programme.sessions)
    return total > 0 and attended * 100 >= programme.required_percent * total


# ---------------------------------------------------------------- the rotating code

def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def current_slot(at: datetime | None = None) -> int:
    """The start (Unix seconds) of the 20-second slot ``at`` falls in: every screen shows the same code."""
    stamp = int((at or now()).timestamp())
    return stamp - stamp % ROTATE_SECONDS


def issue_token(session: ClassSession, at: datetime | None = None) -> str:
    return _serializer().dumps([session.id, current_slot(at)])


@dataclass(frozen=True)
class ScreenCode:
    token: str
    slot: int
    seconds_left: int  # until the screen shows the next code


def screen_code(session: ClassSession) -> ScreenCode:
    at = now()
    slot = current_slot(at)
    return ScreenCode(token=issue_token(session, at), slot=slot,
                      seconds_left=max(1, slot + ROTATE_SECONDS - int(at.timestamp())))


def qr_data_uri(text: str) -> str:
    """A PNG of the QR code of ``text`` as a data: URI (the page's CSP allows data: images)."""
    image = qrcode.make(text, box_size=10, border=4)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def check_token(session_id: int, token: str) -> None:
    """Refuse, saying why, a code that is forged, for another session, or older than its lifetime."""
    try:
        named, slot = _serializer().loads(token or "")
        named, slot = int(named), int(slot)
    except (BadSignature, TypeError, ValueError):
        raise InvalidInput(_("签到码无效：请用手机扫描主办方屏幕上的二维码，不要手动输入或修改网址。"),
                           reason="forged") from None
    if named != session_id:
        raise InvalidInput(_("这是另一次课的签到码：请扫描本次课屏幕上的二维码。"), reason="other_session")
    age = int(now().timestamp()) - slot
    if age < -5:
        raise InvalidInput(_("签到码无效：请用手机扫描主办方屏幕上的二维码。"), reason="future")
    if age > TOKEN_LIFETIME_SECONDS:
        raise InvalidInput(_("签到码已过期：屏幕上的二维码每 %(rotate)s 秒更换一次，%(life)s 秒内有效。"
                             "请扫描屏幕上最新的二维码。", rotate=ROTATE_SECONDS, life=TOKEN_LIFETIME_SECONDS),
                           reason="expired")


def _window_problem(session: ClassSession) -> str | None:
    at = utcnow_naive()
    if at < session.starts_at:
        return _("本次课还没有开始，签到时间为上课时间内。")
    if at > session.ends_at:
        return _("本次课已经结束，不能再签到。如确实到场，请联系主办方补录。")
    return None


def _accepted(user_id: int, programme_id: int) -> bool:
    return db.session.scalar(select(ClassApplication.id).where(
        ClassApplication.programme_id == programme_id, ClassApplication.user_id == user_id,
        ClassApplication.status == ApplicationStatus.ACCEPTED)) is not None


def scan_session(session_id: int) -> ClassSession:
    session = db.session.get(ClassSession, session_id)
    if session is None:
        raise NotFound(_("没有找到这次课。"))
    return session


@dataclass(frozen=True)
class Recorded:
    attendance: ClassAttendance
    new: bool  # False: the learner was already recorded; nothing was credited again
    credited: Decimal = Decimal(0)  # the hours this attendance put in the ledger
    per_programme: bool = False  # the learner's rule set credits the programme once, at 结业


def record_scan(actor: User, session_id: int, token: str) -> Recorded:
    """A learner's scan: recorded (and credited) once per learner and session, only with a live code
    for this session, inside the session's window, for an accepted learner."""
    session = scan_session(session_id)
    check_token(session.id, token)
    problem = _window_problem(session)
    if problem:
        raise InvalidInput(problem, reason="outside_window")
    if not _accepted(actor.id, session.programme_id):
        raise NotAllowed(_("您不是这个项目录取的学员，不能签到。录取结果见“我的研修与培训”。"))
    if is_host(actor, session.programme):
        # The host fetches the code from anywhere and is the one who checks the headcount.
        raise NotAllowed(_("主办方管理员不能为自己扫码签到，请由主办方的另一位管理员核对后补录。"))
    return _attend(actor, session, actor, AttendanceMethod.SCAN)


def record_by_hand(actor, session_id: int, learner_id, reason: str) -> Recorded:
    """The host records a learner present (a phone without battery, a failed scan), with a reason."""
    session = session_to_manage(actor, session_id)
    try:
        learner = db.session.get(User, int(learner_id))
    except (TypeError, ValueError):
        learner = None
    if learner is None or not _accepted(learner.id, session.programme_id):
        raise InvalidInput(_("请选择本项目录取的学员。"), field="learner")
    if learner.id == actor.id:
        raise NotAllowed(_("不能为自己补录签到，请由主办方的另一位管理员补录。"))
    reason = " ".join(_visible(reason).split())
    if not 2 <= len(reason) <= 500:
        raise InvalidInput(_("请填写补录原因（2–500 字），如“手机没电，现场核对身份后补录”。"), field="reason")
    if utcnow_naive() < session.starts_at:
        raise InvalidInput(_("本次课还没有开始，开始后才能补录签到。"), field="learner")
    recorded = _attend(actor, session, learner, AttendanceMethod.MANUAL, reason)
    if not recorded.new:
        raise Conflict(_("%(name)s 已签到，无需补录。", name=learner.real_name))
    return recorded


def _attend(actor, session: ClassSession, learner: User, method: str, reason: str | None = None) -> Recorded:
    # The ledger lock first: two scans at once (a retry, two tabs) are serialized here, so the second
    # finds the first one's row and credits nothing.
    ledger.lock_ledger()
    found = db.session.scalar(select(ClassAttendance).where(ClassAttendance.session_id == session.id,
                                                            ClassAttendance.user_id == learner.id))
    per_programme = credits_per_programme(learner)
    if found is not None:
        return Recorded(found, False, per_programme=per_programme)
    # One person, one room: hours for the same hour twice (two programmes' codes relayed to one phone,
    # two sessions of one programme at once) are not credited.
    elsewhere = db.session.scalar(select(ClassSession).join(ClassAttendance).where(
        ClassAttendance.user_id == learner.id, ClassSession.id != session.id,
        ClassSession.starts_at < session.ends_at, ClassSession.ends_at > session.starts_at).limit(1))
    if elsewhere is not None:
        raise Conflict(_("%(name)s 已在同一时间的另一次课（%(other)s / %(title)s）签到，同一时间只能出席一次课。",
                         name=learner.real_name, other=elsewhere.programme.title, title=elsewhere.title))
    attendance = ClassAttendance(session_id=session.id, user_id=learner.id, at=utcnow_naive(), method=method,
                                 recorded_by_id=actor.id, reason=reason)
    db.session.add(attendance)
    db.session.flush()
    programme = session.programme
    record = None
    # Never more than the programme's hours in all, however the rule set was set while it ran (a rule set
    # switched to per programme after some sessions were credited, or back).
    hours = min(session.hours, programme_hours(programme) - credited_for(learner.id, programme))
    if not per_programme and hours > 0:
        record = ledger.record_activity(
            learner, origin=programme.kind, title=f"{programme.title} / {session.title}", hours=hours,
            category=programme.category, day=local_date(session.starts_at), activity_kind=None,
            source=(SOURCE_TYPE, str(attendance.id)), entered_by=actor)
        attendance.credit_record_id = record.id
        db.session.flush()
    record_event(actor, f"class.attendance_{method}", attendance, session=session.id, learner=learner.id,
                 hours=str(record.hours if record else 0), credit_record=record.id if record else None,
                 reason=reason)
    completion = _complete(actor, learner, programme, per_programme=per_programme)
    credited = record.hours if record else (completion.hours if completion is not None else Decimal(0))
    return Recorded(attendance, True, credited=credited, per_programme=per_programme)


def credits_per_programme(learner: User) -> bool:
    """Whether the learner's rule set credits seminars and classes once per programme (结业计学时)."""
    return ledger.rule_set_for(learner).class_credit == ClassCredit.PROGRAMME


def programme_hours(programme: ClassProgramme) -> Decimal:
    """The programme's hours: the sum of its sessions'."""
    return sum((s.hours for s in programme.sessions), Decimal(0))


def credited_for(user_id: int, programme: ClassProgramme, attended: dict | None = None) -> Decimal:
    """The hours the learner's attendance of the programme has put in the ledger so far (``attended``:
    their attendances as :func:`attendances_of` gives them, when the caller has read them already)."""
    if attended is None:
        attended = attendances_of(user_id, programme)
    ids = [a.credit_record_id for a in attended.values() if a.credit_record_id]
    entry = programme_entry(user_id, programme)
    sessions = db.session.scalar(select(func.coalesce(func.sum(CreditRecord.hours), 0)).where(
        CreditRecord.id.in_(ids))) if ids else 0
    return Decimal(sessions or 0) + (entry.hours if entry is not None else Decimal(0))


def programme_entry(user_id: int, programme: ClassProgramme) -> CreditRecord | None:
    """The learner's ledger entry of the programme, where it was credited per programme."""
    return db.session.scalar(select(CreditRecord).where(
        CreditRecord.source_type == PROGRAMME_SOURCE_TYPE, CreditRecord.source_id == f"{programme.id}:{user_id}",
        CreditRecord.entry_kind == EntryKind.COMPLETION))


def programme_code(programme: ClassProgramme) -> str:
    """The programme's code on its certificates (项目编号)."""
    return f"CP-{programme.id:06d}"


def programme_certificate(user_id: int, programme: ClassProgramme):
    """The learner's certificate of the programme, if one was issued."""
    return certificates.programme_certificate(user_id, programme_code(programme))


def _complete(actor, learner: User, programme: ClassProgramme, *, per_programme: bool) -> CreditRecord | None:
    """Once the learner has attended the programme's share of sessions (结业): per programme, its one
    ledger entry of the hours not yet credited for it (returned when made now); and its certificate, with
    the hours the ledger holds for the programme (reissued as more are credited)."""
    attended = attendances_of(learner.id, programme)
    if not completed(programme, len(attended)):
        return None
    finished = local_date(max(s.starts_at for s in programme.sessions if s.id in attended))
    made = None
    if per_programme and programme_entry(learner.id, programme) is None:
        owed = programme_hours(programme) - credited_for(learner.id, programme, attended)
        if owed > 0:
            made = ledger.record_activity(
                learner, origin=programme.kind, title=programme.title, hours=owed, category=programme.category,
                day=finished, activity_kind=None, source=(PROGRAMME_SOURCE_TYPE, f"{programme.id}:{learner.id}"),
                entered_by=actor)
            record_event(actor, "class.programme_credited", programme, learner=learner.id, hours=str(made.hours),
                         credit_record=made.id)
    hours = credited_for(learner.id, programme, attended)  # with the programme's entry, if made just now
    if hours > 0:
        certificates.issue_programme_certificate(
            learner, code=programme_code(programme), title=programme.title, category=programme.category,
            hours=hours, year=ledger.credit_year(ledger.rule_set_for(learner), ledger.local_noon_utc(finished)),
            completed_on=finished)
    return made


def attendance_count(session: ClassSession) -> int:
    return db.session.scalar(select(func.count()).select_from(ClassAttendance)
                             .where(ClassAttendance.session_id == session.id)) or 0


def accepted_learners(programme: ClassProgramme) -> list[User]:
    return list(db.session.scalars(select(User).join(ClassApplication, ClassApplication.user_id == User.id).where(
        ClassApplication.programme_id == programme.id, ClassApplication.status == ApplicationStatus.ACCEPTED)
        .order_by(User.id)))


def session_roll(session: ClassSession) -> list[tuple[User, ClassAttendance | None]]:
    """Every accepted learner with their attendance at ``session`` (None: not recorded)."""
    present = {a.user_id: a for a in session.attendances}
    return [(user, present.get(user.id)) for user in accepted_learners(session.programme)]


def session_window_label(session: ClassSession) -> tuple[datetime, datetime]:
    zone = local_zone()
    return (session.starts_at.replace(tzinfo=UTC).astimezone(zone),
            session.ends_at.replace(tzinfo=UTC).astimezone(zone))

