"""通知公告: who may publish where, what a visitor sees, and what a learner has not read yet.

- An admin publishes for any region or nationwide (no region); an HR auditor only for the regions
  of their grants. Editing and withdrawing follow the same rule, on the notice's region.
- A visitor sees the notices in force today (platform-local date, ``starts_on`` to ``ends_on``
  inclusive, not withdrawn) that are nationwide or for their region: a signed-in person's own
  region, an anonymous visitor's choice. Pinned first, then the newest.
- The body is Markdown rendered without raw HTML (:mod:`lms.core.markdown`), so nothing typed can
  become markup. A body that carries script or page code anyway is refused with the reason, rather
  than published as text the author did not mean readers to see.

Functions only flush; the caller commits.
"""

import contextlib
import re
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import gettext as _
from sqlalchemy import exists, func, or_, select
from sqlalchemy.exc import IntegrityError

from ..accounts.models import Region, Role, User
from ..core.audit import record_event
from ..core.clock import local_date, utcnow_naive
from ..core.errors import InvalidInput, NotAllowed, NotFound
from ..extensions import db
from .models import Notice, NoticeRead

PAGE_SIZE = 20
HOME_COUNT = 5
TITLE_MAX = 100
BODY_MAX = 20_000
# How far ahead a notice may start, and stop being shown (a year typed wrong, not a plan).
START_HORIZON_DAYS = 366
END_HORIZON_DAYS = 5 * 366

# Script and active page code: refused in a body (it would be shown as text, never run).
_ACTIVE_CODE = re.compile(
    r"<\s*/?\s*(script|iframe|object|embed|style|form|svg|math|link|meta|base)\b"
    r"|<[a-z][^>]*\son[a-z]+\s*="
    r"|(?:java|vb)script\s*:",
    re.IGNORECASE)


@dataclass(frozen=True)
class NoticeData:
    title: str
    body: str
    region_code: str | None = None  # None or "": nationwide
    pinned: bool = False
    starts_on: date | None = None  # None: today
    ends_on: date | None = None  # None: until withdrawn


@dataclass(frozen=True)
class NoticePage:
    items: list  # of (Notice, unread: bool)
    total: int
    page: int
    per_page: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def today() -> date:
    return local_date(utcnow_naive())


# ---------------------------------------------------------------- who may publish where

def publishing_regions(actor) -> list[Region]:
    """The regions ``actor`` may publish for: every region for an admin, their own for an HR auditor."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return []
    if actor.has_role(Role.ADMIN):
        return list(db.session.scalars(select(Region).order_by(Region.code)))
    regions = {g.region.code: g.region for g in actor.grants_for(Role.HR_AUDITOR) if g.region}
    return sorted(regions.values(), key=lambda r: r.code)


def all_regions() -> list[Region]:
    return list(db.session.scalars(select(Region).order_by(Region.code)))


def may_publish(actor) -> bool:
    return bool(actor is not None and getattr(actor, "is_authenticated", False)
                and (actor.has_role(Role.ADMIN) or actor.has_role(Role.HR_AUDITOR)))


def authorize_region(actor, region_code: str | None) -> None:
    """Refuse ``actor`` a notice for ``region_code`` (None: nationwide) unless it is theirs to publish."""
    if not may_publish(actor):
        raise NotAllowed(_("只有平台管理员和人社审核人员可以发布通知公告。"))
    if actor.has_role(Role.ADMIN):
        return
    own = [r.code for r in publishing_regions(actor)]
    if region_code is None:
        raise NotAllowed(_("面向全国的通知只能由平台管理员发布；您可以发布本地区（%(regions)s）的通知。",
                           regions=_("、").join(r.name for r in publishing_regions(actor))), field="region_code")
    if region_code not in own:
        raise NotAllowed(_("您只能发布%(regions)s的通知。", regions=_("、").join(r.name for r in publishing_regions(actor))),
                         field="region_code")


def may_manage(actor, notice: Notice) -> bool:
    """Whether ``actor`` may edit and withdraw ``notice``."""
    try:
        authorize_region(actor, notice.region_code)
    except NotAllowed:
        return False
    return True


def _clean(data: NoticeData) -> dict:
    title = " ".join((data.title or "").split())
    if not 2 <= len(title) <= TITLE_MAX:
        raise InvalidInput(_("请填写 2–%(n)s 字的标题。", n=TITLE_MAX), field="title")
    body = (data.body or "").strip()
    if not body:
        raise InvalidInput(_("请填写通知正文。"), field="body")
    if len(body) > BODY_MAX:
        raise InvalidInput(_("正文最多 %(n)s 字，现有 %(m)s 字。", n=BODY_MAX, m=len(body)), field="body")
    found = _ACTIVE_CODE.search(body) or _ACTIVE_CODE.search(title)
    if found:
        raise InvalidInput(_("正文或标题中含有脚本或网页代码（“%(code)s”），通知不能包含这些内容。请删去后再发布；"
                             "排版请用 Markdown，如 **加粗**、- 列表、[链接文字](https://…)。", code=found.group(0)[:30]),
                           field="body" if _ACTIVE_CODE.search(body) else "title")
    region_code = data.region_code or None
    if region_code is not None and db.session.get(Region, region_code) is None:
        raise InvalidInput(_("地区代码 %(code)s 不存在，请从列表中选择。", code=region_code), field="region_code")
    starts_on = data.starts_on or today()
    latest_start, latest_end = today() + timedelta(days=START_HORIZON_DAYS), today() + timedelta(days=END_HORIZON_DAYS)
    if starts_on > latest_start:
        raise InvalidInput(_("开始显示日期最晚为一年后（%(d)s）。请确认年份是否填错。", d=latest_start.isoformat()),
                           field="starts_on")
    if data.ends_on is not None and data.ends_on > latest_end:
        raise InvalidInput(_("停止显示日期最晚为五年后（%(d)s）；需要一直显示的通知，请将停止显示日期留空。",
                             d=latest_end.isoformat()), field="ends_on")
    if data.ends_on is not None and data.ends_on < starts_on:
        raise InvalidInput(_("结束日期不能早于开始日期（%(start)s）。", start=starts_on.isoformat()), field="ends_on")
    return {"title": title, "body": body, "region_code": region_code, "pinned": bool(data.pinned),
            "starts_on": starts_on, "ends_on": data.ends_on}


# ---------------------------------------------------------------- publishing

def publish_notice(actor: User, data: NoticeData) -> Notice:
    clean = _clean(data)
    authorize_region(actor, clean["region_code"])
    notice = Notice(author_id=actor.id, **clean)
    db.session.add(notice)
    db.session.flush()
    record_event(actor, "notice.published", notice, title=notice.title, region_code=notice.region_code)
    return notice


def notice_to_manage(actor, notice_id: int) -> Notice:
    """A notice ``actor`` may edit or withdraw (404 when there is none, 403 when not theirs)."""
    notice = db.session.get(Notice, notice_id)
    if notice is None:
        raise NotFound(_("没有找到这条通知。"))
    authorize_region(actor, notice.region_code)
    return notice


def update_notice(actor: User, notice: Notice, data: NoticeData) -> Notice:
    authorize_region(actor, notice.region_code)
    clean = _clean(data)
    authorize_region(actor, clean["region_code"])
    for key, value in clean.items():
        setattr(notice, key, value)
    notice.updated_at = utcnow_naive()
    record_event(actor, "notice.updated", notice, title=notice.title, region_code=notice.region_code)
    db.session.flush()
    return notice


def withdraw_notice(actor: User, notice: Notice) -> Notice:
    """Take a notice off every list now (it stays on record)."""
    authorize_region(actor, notice.region_code)
    if notice.withdrawn_at is None:
        notice.withdrawn_at = utcnow_naive()
        record_event(actor, "notice.withdrawn", notice, title=notice.title, region_code=notice.region_code)
        db.session.flush()
    return notice


def managed_notices(actor, *, page: int = 1) -> NoticePage:
    """Every notice ``actor`` may edit, newest first (withdrawn and expired ones too)."""
    query = select(Notice)
    if not actor.has_role(Role.ADMIN):
        query = query.where(Notice.region_code.in_([r.code for r in publishing_regions(actor)]))
    return _paged(query.order_by(Notice.created_at.desc(), Notice.id.desc()), page, reader=None)


# ---------------------------------------------------------------- reading

def _in_force(region_code: str | None, on: date):
    regions = [Notice.region_code.is_(None)]
    if region_code:
        regions.append(Notice.region_code == region_code)
    return (Notice.withdrawn_at.is_(None), Notice.starts_on <= on,
            or_(Notice.ends_on.is_(None), Notice.ends_on >= on), or_(*regions))


def _ordered(query):
    return query.order_by(Notice.pinned.desc(), Notice.starts_on.desc(), Notice.id.desc())


def viewer_region(viewer, chosen: str | None = None) -> str | None:
    """The region whose notices a visitor sees: a signed-in person's own, else the one they chose."""
    if viewer is not None and getattr(viewer, "is_authenticated", False):
        return viewer.region_code
    return chosen or None


def _read_ids(reader, notice_ids: list[int]) -> set[int]:
    if reader is None or not notice_ids:
        return set()
    return set(db.session.scalars(select(NoticeRead.notice_id).where(
        NoticeRead.user_id == reader.id, NoticeRead.notice_id.in_(notice_ids))))


def _paged(query, page, *, reader) -> NoticePage:
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, _page_number(page)), pages)
    notices = list(db.session.scalars(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    read = _read_ids(reader, [n.id for n in notices])
    return NoticePage(items=[(n, reader is not None and n.id not in read) for n in notices], total=total, page=page)


def _page_number(value) -> int:
    try:
        return int(value or 1)
    except (TypeError, ValueError):
        return 1


def _reader(viewer):
    return viewer if viewer is not None and getattr(viewer, "is_authenticated", False) else None


def notices_for(viewer, *, region_code: str | None = None, page=1) -> NoticePage:
    """The notice list: those in force for the visitor's region, with unread marks when signed in."""
    query = _ordered(select(Notice).where(*_in_force(viewer_region(viewer, region_code), today())))
    return _paged(query, page, reader=_reader(viewer))


def home_notices(viewer) -> list:
    """The few the home page shows: (Notice, unread) pairs."""
    query = _ordered(select(Notice).where(*_in_force(viewer_region(viewer), today()))).limit(HOME_COUNT)
    notices = list(db.session.scalars(query))
    reader = _reader(viewer)
    read = _read_ids(reader, [n.id for n in notices])
    return [(n, reader is not None and n.id not in read) for n in notices]


def unread_count(viewer) -> int:
    """How many notices in force for a signed-in person they have not opened."""
    reader = _reader(viewer)
    if reader is None:
        return 0
    opened = exists().where(NoticeRead.notice_id == Notice.id, NoticeRead.user_id == reader.id)
    return db.session.scalar(select(func.count(Notice.id)).where(
        *_in_force(reader.region_code, today()), ~opened)) or 0


def read_notice(viewer, notice_id: int) -> Notice:
    """One notice as a visitor opens it, marked read for a signed-in person. A notice in force opens
    for anyone who has its link (the region decides the lists, not who may read); one withdrawn,
    expired or not yet shown is not found, except by those who may manage it (to check it)."""
    notice = db.session.get(Notice, notice_id)
    if notice is None:
        raise NotFound(_("没有找到这条通知，它可能已撤回或过期。"))
    in_force = db.session.scalar(select(Notice.id).where(
        Notice.id == notice.id, *_in_force(notice.region_code, today()))) is not None
    if not in_force:
        if not may_manage(viewer, notice):
            raise NotFound(_("没有找到这条通知，它可能已撤回或过期。"))
        return notice
    reader = _reader(viewer)
    if reader is not None and not db.session.scalar(select(NoticeRead.id).where(
            NoticeRead.user_id == reader.id, NoticeRead.notice_id == notice.id)):
        # The same person opening it twice at once: one row, and no error for the second.
        with contextlib.suppress(IntegrityError), db.session.begin_nested():
            db.session.add(NoticeRead(user_id=reader.id, notice_id=notice.id))
    return notice


def mark_all_read(viewer) -> int:
    """Mark every notice in force for a signed-in person as read; returns how many were marked."""
    reader = _reader(viewer)
    if reader is None:
        return 0
    opened = exists().where(NoticeRead.notice_id == Notice.id, NoticeRead.user_id == reader.id)
    ids = list(db.session.scalars(select(Notice.id).where(*_in_force(reader.region_code, today()), ~opened)))
    db.session.add_all(NoticeRead(user_id=reader.id, notice_id=i) for i in ids)
    db.session.flush()
    return len(ids)
