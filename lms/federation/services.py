"""The hub side of the courseware federation: what this instance shares, and its signed feed.

An admin shares a course code (:func:`share_course`): its published version is exported once as a
package archive (the format of courses/README.md, the same export as ``flask courses export``)
whose size and SHA-256 are kept; a later version of a shared code gets its own archive from the job
worker once it is published (every five minutes, or ``flask federation build-archives``), and
enters the feed then. ``GET /federation/courses`` lists the shared, published
versions, oldest archive first, paged, with ``updated_since``; each entry is a JWS (EdDSA) signed
with the instance's active key (``kid`` in ``/.well-known/jwks.json``)::

    {"iss": "<public URL>", "iat": 1764500000, "code": "GX-NS-001", "version": 2, "title": "...",
     "subject": "网络安全", "category": "公需", "hours": "1.5",
     "publisher": {"name": "...", "credit_code": "..." | null},
     "archive_url": "<public URL>/federation/courses/GX-NS-001/2/package.zip",
     "size": 123456, "sha256": "<hex>", "updated_at": "2026-11-30T02:00:00.123456Z"}

The feed also announces key rollover: for every older key still in the key folder, a JWS signed
*by that older key* naming the active key (``{"new_key": <JWK with kid>}``), so a subscriber that
pinned the old key pins the new one without asking anyone (``flask credentials rotate-key``).

Package archives carry the exam's answer keys: they go only to a subscriber presenting a token an
admin issued (``Authorization: Bearer <token>``); every archive served is audited.
"""

import base64
import hashlib
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, or_, select

from ..accounts.models import Role
from ..catalog.models import Category, Course, CourseStatus
from ..catalog.services import export_archive
from ..certificates import signing
from ..core.audit import record_event
from ..core.clock import iso_utc, now, utcnow_naive
from ..core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from ..core.formatting import format_hours
from ..core.storage import media_storage
from ..core.web import public_base, public_url
from ..extensions import db
from .models import FederationToken, FeedArchive, SharedCourse

ENTRY_TYPE = "gongxu-course+jwt"
ROLLOVER_TYPE = "gongxu-key-rollover+jwt"
ARCHIVE_FOLDER = "federation"
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
TOKEN_PREFIX = "gxf_"


def require_admin(actor) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.has_role(Role.ADMIN):
        raise NotAllowed(_("只有平台管理员可以管理课程共享与订阅。"))


# ---------------------------------------------------------------- sharing

def _latest_published(code: str) -> Course | None:
    return db.session.scalar(select(Course).where(Course.code == code, Course.status == CourseStatus.PUBLISHED)
                             .order_by(Course.version.desc()))


def share_course(actor, code: str) -> SharedCourse:
    """Share ``code``: its published version (and every later one) goes into the feed."""
    require_admin(actor)
    code = (code or "").strip().upper()
    if not code:
        raise InvalidInput(_("请填写要共享的课程编号。"), field="code")
    course = _latest_published(code)
    if course is None:
        raise InvalidInput(_("课程 %(code)s 没有已发布的版本：只能共享审核通过、已发布的课程。", code=code[:32]), field="code")
    if db.session.scalar(select(SharedCourse.id).where(SharedCourse.code == code)):
        raise Conflict(_("课程 %(code)s 已在共享列表中。", code=code), field="code")
    share = SharedCourse(code=code, shared_by_id=actor.id)
    db.session.add(share)
    db.session.flush()
    archive = build_archive(course)
    record_event(actor, "federation.shared", share, code=code, version=course.version, sha256=archive.sha256)
    return share


def unshare_course(actor, share_id: int) -> str:
    """Stop sharing; subscribers keep what they imported. Returns the code."""
    require_admin(actor)
    share = db.session.get(SharedCourse, share_id)
    if share is None:
        raise NotFound(_("该课程已不在共享列表中。"))
    code = share.code
    record_event(actor, "federation.unshared", share, code=code)
    db.session.delete(share)
    db.session.flush()
    return code


def shared_courses() -> list[tuple[SharedCourse, Course | None, FeedArchive | None]]:
    rows = []
    for share in db.session.scalars(select(SharedCourse).order_by(SharedCourse.code)):
        course = _latest_published(share.code)
        archive = db.session.scalar(select(FeedArchive).where(FeedArchive.course_id == course.id)) if course else None
        rows.append((share, course, archive))
    return rows


def shareable_courses() -> list[Course]:
    """Published courses not shared yet (the choices of the share form)."""
    shared = select(SharedCourse.code)
    return list(db.session.scalars(select(Course).where(Course.status == CourseStatus.PUBLISHED,
                                                        Course.code.not_in(shared)).order_by(Course.code)))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def build_archive(course: Course) -> FeedArchive:
    """The package archive of a published version, built once (the same export as the CLI's)."""
    existing = db.session.scalar(select(FeedArchive).where(FeedArchive.course_id == course.id))
    if existing is not None:
        return existing
    relative = f"{ARCHIVE_FOLDER}/{course.code}-v{course.version}-{secrets.token_hex(4)}.zip"
    with tempfile.TemporaryDirectory(prefix="feed-") as scratch:
        built = export_archive(course, Path(scratch) / "package.zip")
        size, sha256 = built.stat().st_size, _sha256(built)
        with open(built, "rb") as fh:
            media_storage().save(relative, fh)
    archive = FeedArchive(course_id=course.id, path=relative, size_bytes=size, sha256=sha256,
                          built_at=utcnow_naive())
    db.session.add(archive)
    db.session.flush()
    return archive


def versions_without_archive() -> list[int]:
    """Ids of the published versions of shared codes that have no archive yet (a version published
    after its code was shared): the worker builds them (:func:`lms.federation.tasks.build_archives`),
    not the reviewer's request that published them, since a package copies every video."""
    return list(db.session.scalars(
        select(Course.id).join(SharedCourse, SharedCourse.code == Course.code)
        .outerjoin(FeedArchive, FeedArchive.course_id == Course.id)
        .where(Course.status == CourseStatus.PUBLISHED, FeedArchive.id.is_(None)).order_by(Course.id)))


# ---------------------------------------------------------------- tokens for subscribers

def issue_token(actor, name: str) -> tuple[FederationToken, str]:
    """A new token for a subscribing instance; the secret is returned once and only its hash is kept."""
    require_admin(actor)
    name = (name or "").strip()
    if not 2 <= len(name) <= 120:
        raise InvalidInput(_("请填写订阅方的名称（2–120 个字），例如“某某省继续教育平台”。"), field="name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = FederationToken(name=name, token_hash=hashlib.sha256(secret.encode()).hexdigest(), created_by_id=actor.id)
    db.session.add(token)
    db.session.flush()
    record_event(actor, "federation.token_issued", token, name=name)
    return token, secret


def revoke_token(actor, token_id: int) -> FederationToken:
    require_admin(actor)
    token = db.session.get(FederationToken, token_id)
    if token is None:
        raise NotFound(_("订阅令牌不存在。"))
    if token.revoked_at is None:
        token.revoked_at = utcnow_naive()
        record_event(actor, "federation.token_revoked", token, name=token.name)
    db.session.flush()
    return token


def tokens() -> list[FederationToken]:
    return list(db.session.scalars(select(FederationToken).order_by(FederationToken.id.desc())))


def token_for(authorization: str | None) -> FederationToken | None:
    """The active token an ``Authorization: Bearer`` header presents, or None."""
    scheme, _sep, secret = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip().startswith(TOKEN_PREFIX):
        return None
    digest = hashlib.sha256(secret.strip().encode()).hexdigest()
    token = db.session.scalar(select(FederationToken).where(FederationToken.token_hash == digest))
    if token is None or token.revoked_at is not None:
        return None
    return token


# ---------------------------------------------------------------- the feed

def instance_name() -> str:
    return current_app.config["LMS_CERT_ISSUER_NAME"]


def parse_updated_since(raw: str | None) -> datetime | None:
    """``updated_since`` (ISO 8601, UTC when no offset is given) as naive UTC; InvalidInput otherwise."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise InvalidInput(_("参数 updated_since 应为 ISO 8601 时间，例如 2026-03-01T00:00:00Z。"),
                           field="updated_since") from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _cursor(archive: FeedArchive) -> str:
    raw = f"{archive.built_at.isoformat()}|{archive.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, _sep, archive_id = base64.urlsafe_b64decode(padded.encode()).decode().partition("|")
        return datetime.fromisoformat(at), int(archive_id)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(_("参数 cursor 无效。请使用上一页响应中的 next 链接原样请求。"), field="cursor") from None


@dataclass(frozen=True)
class FeedQuery:
    updated_since: datetime | None = None
    cursor: str | None = None
    limit: int = PAGE_SIZE


def entry_claims(course: Course, archive: FeedArchive) -> dict:
    publisher = course.publisher
    return {
        "iss": public_base(), "iat": int(now().timestamp()), "code": course.code, "version": course.version,
        "title": course.title, "subject": course.subject.name, "category": Category(course.category).source_label,
        "hours": format_hours(course.credit_hours),
        "publisher": {"name": publisher.name, "credit_code": publisher.credit_code},
        "archive_url": public_url("federation.archive", code=course.code, version=course.version),
        "size": archive.size_bytes, "sha256": archive.sha256, "updated_at": iso_utc_precise(archive.built_at),
    }


def iso_utc_precise(at: datetime) -> str:
    """A stored UTC time with its microseconds (``updated_since`` must not repeat or skip entries)."""
    return at.isoformat(timespec="microseconds") + "Z"


def key_rollover() -> list[str]:
    """For each older key still kept: the active key, announced signed by that older key."""
    active_kid, _key = signing.active_key()
    active_jwk = next(key for key in signing.jwks()["keys"] if key["kid"] == active_kid)
    announcements = []
    for kid in signing.all_keys():
        if kid != active_kid:
            announcements.append(signing.sign_with(kid, {"iss": public_base(), "iat": int(now().timestamp()),
                                                         "new_key": active_jwk}, typ=ROLLOVER_TYPE))
    return announcements


def feed_page(query: FeedQuery) -> dict:
    """One page of the feed (the JSON ``/federation/courses`` answers)."""
    limit = query.limit
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(_("参数 limit 应为 1–%(max)s 的整数。", max=MAX_PAGE_SIZE), field="limit")
    stmt = (select(FeedArchive, Course).join(Course, Course.id == FeedArchive.course_id)
            .join(SharedCourse, SharedCourse.code == Course.code)
            .where(Course.status == CourseStatus.PUBLISHED)
            .order_by(FeedArchive.built_at, FeedArchive.id).limit(limit + 1))
    if query.updated_since is not None:
        stmt = stmt.where(FeedArchive.built_at > query.updated_since)
    if query.cursor:
        at, archive_id = _read_cursor(query.cursor)
        stmt = stmt.where(or_(FeedArchive.built_at > at, and_(FeedArchive.built_at == at, FeedArchive.id > archive_id)))
    rows = db.session.execute(stmt).all()
    more = len(rows) > limit
    rows = rows[:limit]
    entries = []
    for archive, course in rows:
        claims = entry_claims(course, archive)
        entries.append({"code": course.code, "version": course.version, "title": course.title,
                        "updated_at": claims["updated_at"], "jws": signing.sign(claims, typ=ENTRY_TYPE)})
    next_url = None
    if more:
        args = {"cursor": _cursor(rows[-1][0]), "limit": limit}
        if query.updated_since is not None:
            args["updated_since"] = iso_utc_precise(query.updated_since)
        next_url = public_url("federation.feed", **args)
    return {
        "instance": {"name": instance_name(), "url": public_base()},
        "jwks_url": public_url("certificates.jwks"),
        "generated_at": iso_utc(now()),
        "key_rollover": key_rollover(),
        "entries": entries,
        "next": next_url,
    }


def archive_for(token: FederationToken, code: str, version: int, *, ip: str | None) -> str:
    """The storage key of the archive of a shared, published version, for a subscriber's token
    (audited)."""
    row = db.session.execute(
        select(FeedArchive, Course).join(Course, Course.id == FeedArchive.course_id)
        .join(SharedCourse, SharedCourse.code == Course.code)
        .where(Course.code == code, Course.version == version, Course.status == CourseStatus.PUBLISHED)).first()
    if row is None:
        raise NotFound(_("课程 %(code)s 第 %(version)s 版不在本平台的共享课程中。", code=code[:32], version=version))
    archive, course = row
    token.last_used_at = utcnow_naive()
    event = record_event(None, "federation.archive_served", course, ip=ip, token_id=token.id, token_name=token.name,
                         code=code, version=version, sha256=archive.sha256)
    event.target_type = "Course"
    db.session.flush()
    return archive.path
