"""The subscriber side of the courseware federation: the feeds this instance follows.

Subscribing (:func:`subscribe`, the admin page and ``flask federation subscribe URL``) reads the
feed and the publisher's key set (``/.well-known/jwks.json`` of the same origin) and pins the keys:
either those a configured trust list names for that origin (``LMS_FEDERATION_TRUST``), or — on
first use — every key of the set once an admin has confirmed the active key's fingerprint (its RFC
7638 thumbprint, the ``kid``), compared with what the publisher says out of band.

A pull (:mod:`lms.federation.tasks`, periodic, or at once from the page or the CLI) reads the feed
from where the last one stopped (``updated_since``), follows key rollover announced there (an
announcement counts only when signed by a key already pinned), and takes each entry in turn
(:func:`take_entry`): signature by a pinned key, issuer, fields; then the archive from the same
origin with the subscription's token, streamed, its size and SHA-256 compared with the signed
entry; then the normal package import (unpack with today's limits, validation, the national rule's
hours). A new upstream version becomes the next immutable version of the course here, and the
course keeps its origin. Every entry taken or refused is one :class:`FeedEntry` row, shown on the
subscription's page with the reason; a refused entry imports nothing.
"""

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import jwt
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..accounts import crypto
from ..accounts.models import User
from ..catalog.archives import unpack
from ..catalog.models import Course
from ..catalog.packages import CODE_PATTERN, PackageError
from ..catalog.services import import_packages, load_packages
from ..certificates.signing import ALGORITHM, thumbprint
from ..core.audit import record_event
from ..core.clock import utcnow_naive
from ..core.errors import Conflict, DomainError, InvalidInput, NotFound
from ..core.storage import remove_created
from ..extensions import db
from ..publishing.services import publish_imported_version
from . import remote
from .models import CourseOrigin, EntryOutcome, FeedEntry, FeedSubscription, PinSource
from .services import ENTRY_TYPE, ROLLOVER_TYPE, require_admin

MAX_PAGES_PER_PULL = 20
CLOCK_LEEWAY_SECONDS = 300
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class Rejected(Exception):
    """An entry refused, with the reason shown on the subscription's page."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# ---------------------------------------------------------------- keys

def _ed25519_keys(jwks: dict) -> dict[str, dict]:
    """kid → public JWK for every Ed25519 key of a key set whose kid is its thumbprint."""
    keys = {}
    for key in jwks.get("keys") or []:
        if not isinstance(key, dict) or key.get("kty") != "OKP" or key.get("crv") != "Ed25519" \
                or not isinstance(key.get("x"), str):
            continue
        public = {"crv": "Ed25519", "kty": "OKP", "x": key["x"]}
        if key.get("kid") == thumbprint(public):
            keys[key["kid"]] = {**public, "kid": key["kid"]}
    return keys


def _verify(jws: str, pins: dict[str, dict], *, typ: str) -> tuple[str, dict]:
    """(kid, claims) of a JWS signed by one of the pinned keys; Rejected saying why otherwise."""
    if not isinstance(jws, str) or not jws:
        raise Rejected(_("条目缺少签名（jws），已拒绝。"))
    try:
        header = jwt.get_unverified_header(jws)
    except jwt.exceptions.DecodeError:
        raise Rejected(_("条目的签名格式无效（不是 JWS），已拒绝。")) from None
    kid = header.get("kid")
    if header.get("alg") != ALGORITHM or header.get("typ") != typ:
        raise Rejected(_("条目的签名算法或类型不符（应为 EdDSA），已拒绝。"))
    jwk = pins.get(kid) if isinstance(kid, str) else None
    if jwk is None:
        raise Rejected(_("条目由未知的密钥 %(kid)s 签名，不是本订阅已确认的发布方密钥，已拒绝。如对方更换了密钥却没有用旧密钥宣告，"
                         "请向对方核实后重新订阅。", kid=str(kid)[:64]))
    try:
        key = jwt.PyJWK({**jwk, "alg": ALGORITHM}).key
        claims = jwt.decode(jws, key, algorithms=[ALGORITHM], leeway=CLOCK_LEEWAY_SECONDS,
                            options={"verify_aud": False})
    except jwt.exceptions.InvalidSignatureError:
        raise Rejected(_("条目的签名与内容不符（内容被改动过），已拒绝。")) from None
    except jwt.exceptions.PyJWTError as exc:
        raise Rejected(_("条目的签名无法验证：%(error)s", error=exc.__class__.__name__)) from None
    return kid, claims


def fingerprint_groups(kid: str) -> str:
    """A key id written in groups of four, easier to read aloud and compare."""
    return " ".join(kid[i:i + 4] for i in range(0, len(kid), 4))


def trusted_kids(origin: str) -> frozenset[str]:
    return current_app.config["LMS_FEDERATION_TRUST"].get(origin.lower(), frozenset())


# ---------------------------------------------------------------- subscribing

@dataclass(frozen=True)
class FeedPreview:
    url: str
    origin: str
    instance_name: str
    keys: dict[str, dict]  # kid → JWK, the active key first
    fingerprint: str  # the active key's kid
    trusted: frozenset[str]  # kids of the set the trust list names for this origin
    entries: int  # entries on the feed's first page


def inspect_feed(url: str) -> FeedPreview:
    """What subscribing to ``url`` would pin: the feed read, its key set fetched from its origin."""
    url = remote.check_feed_url(url)
    origin = remote.origin_of(url)
    try:
        _final, feed = remote.fetch_json(url, origin)
        instance = feed.get("instance") if isinstance(feed.get("instance"), dict) else {}
        if not isinstance(feed.get("entries"), list):
            raise InvalidInput(_("该网址不是课程共享订阅源（缺少 entries）。请填写对方平台的 /federation/courses 地址。"),
                               field="url")
        jwks_url = feed.get("jwks_url") if isinstance(feed.get("jwks_url"), str) else origin + "/.well-known/jwks.json"
        _final, jwks = remote.fetch_json(jwks_url, origin)
    except (remote.FetchRefused, remote.FetchFailed) as exc:
        raise InvalidInput(_("无法读取订阅源：%(reason)s", reason=exc.message), field="url") from None
    keys = _ed25519_keys(jwks)
    if not keys:
        raise InvalidInput(_("对方平台没有公布可用的 Ed25519 签名密钥（%(url)s）。", url=jwks_url[:200]), field="url")
    name = str(instance.get("name") or origin)[:120]
    return FeedPreview(url=url, origin=origin, instance_name=name, keys=keys, fingerprint=next(iter(keys)),
                       trusted=trusted_kids(origin) & set(keys), entries=len(feed["entries"]))


def subscribe(actor, url: str, *, token: str, publish_at_once: bool, fingerprint: str | None = None) -> FeedSubscription:
    """Follow a feed: its keys pinned from the trust list, or on first use once ``fingerprint`` (the
    active key's id, as shown to the admin) matches what the feed's origin publishes now."""
    require_admin(actor)
    token = _clean_token(token)
    preview = inspect_feed(url)
    if db.session.scalar(select(FeedSubscription.id).where(FeedSubscription.origin == preview.origin,
                                                          FeedSubscription.ended_at.is_(None))):
        raise Conflict(_("已订阅 %(origin)s 的课程共享，无需重复订阅。", origin=preview.origin), field="url")
    if preview.trusted:
        pins, via = {kid: preview.keys[kid] for kid in preview.trusted}, PinSource.TRUST_LIST
    else:
        given = re.sub(r"\s+", "", fingerprint or "")
        if not given:
            raise InvalidInput(_("请核对对方平台签名密钥的指纹后确认订阅：%(fp)s", fp=fingerprint_groups(preview.fingerprint)),
                               field="fingerprint")
        if given != preview.fingerprint:
            raise InvalidInput(_("确认的指纹与对方平台现在公布的密钥不符（现为 %(fp)s）。请向对方管理员核实后再订阅；"
                                 "未订阅。", fp=fingerprint_groups(preview.fingerprint)), field="fingerprint")
        pins, via = dict(preview.keys), PinSource.FIRST_USE
    sub = FeedSubscription(feed_url=preview.url, origin=preview.origin, instance_name=preview.instance_name,
                           token_encrypted=crypto.encrypt(token), publish_at_once=bool(publish_at_once),
                           pinned_keys=pins, pinned_via=via, created_by_id=actor.id)
    db.session.add(sub)
    db.session.flush()
    record_event(actor, "federation.subscribed", sub, url=preview.url, origin=preview.origin,
                 instance=preview.instance_name, keys=sorted(pins), pinned_via=str(via),
                 publish_at_once=bool(publish_at_once))
    return sub


def _clean_token(token: str) -> str:
    token = (token or "").strip()
    if not token:
        raise InvalidInput(_("请填写对方平台管理员签发的订阅令牌（下载课程包时使用）。"), field="token")
    if len(token) > 200 or any(ch.isspace() for ch in token):
        raise InvalidInput(_("订阅令牌格式不正确：应为一串不含空格的字符，例如 gxf_ 开头。"), field="token")
    return token


def replace_token(actor, subscription_id: int, token: str) -> FeedSubscription:
    """A new token from the publisher (the old one was revoked or lost); the next pull uses it."""
    sub = get_subscription(actor, subscription_id)
    if sub.ended_at is not None:
        raise Conflict(_("该订阅已取消，不再拉取。"))
    sub.token_encrypted = crypto.encrypt(_clean_token(token))
    record_event(actor, "federation.token_replaced", sub, origin=sub.origin)
    db.session.flush()
    return sub


def unsubscribe(actor, subscription_id: int) -> FeedSubscription:
    """Stop following a feed; what it imported stays, with its origin."""
    require_admin(actor)
    sub = get_subscription(actor, subscription_id)
    if sub.ended_at is not None:
        raise Conflict(_("该订阅已于此前取消。"))
    sub.ended_at = utcnow_naive()
    sub.ended_by_id = actor.id
    record_event(actor, "federation.unsubscribed", sub, origin=sub.origin, url=sub.feed_url)
    db.session.flush()
    return sub


def get_subscription(actor, subscription_id: int) -> FeedSubscription:
    require_admin(actor)
    sub = db.session.get(FeedSubscription, subscription_id)
    if sub is None:
        raise NotFound(_("订阅不存在。"))
    return sub


def subscriptions() -> list[FeedSubscription]:
    return list(db.session.scalars(select(FeedSubscription).order_by(FeedSubscription.ended_at.is_not(None),
                                                                    FeedSubscription.id.desc())))


@dataclass(frozen=True)
class Progress:
    pulled: int
    imported: int
    rejected: int
    entries: list[FeedEntry]


def progress(sub: FeedSubscription, *, limit: int = 100) -> Progress:
    counts = dict(db.session.execute(select(FeedEntry.outcome, func.count()).where(FeedEntry.subscription_id == sub.id)
                                     .group_by(FeedEntry.outcome)).all())
    entries = list(db.session.scalars(select(FeedEntry).where(FeedEntry.subscription_id == sub.id)
                                      .options(selectinload(FeedEntry.course))
                                      .order_by(FeedEntry.id.desc()).limit(limit)))
    imported, rejected = counts.get(EntryOutcome.IMPORTED, 0), counts.get(EntryOutcome.REJECTED, 0)
    return Progress(pulled=imported + rejected, imported=imported, rejected=rejected, entries=entries)


def origin_of_course(course: Course) -> CourseOrigin | None:
    return db.session.scalar(select(CourseOrigin).where(CourseOrigin.course_id == course.id))


# ---------------------------------------------------------------- pulling

def page_url(sub: FeedSubscription) -> str:
    """The feed's first page for this pull: from where the last pull stopped."""
    if not sub.cursor:
        return sub.feed_url
    parts = urlsplit(sub.feed_url)
    query = "&".join(filter(None, [parts.query, urlencode({"updated_since": sub.cursor})]))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def follow_rollover(sub: FeedSubscription, announcements) -> list[str]:
    """Pin each new key announced signed by a key already pinned; returns the kids pinned now."""
    added = []
    for jws in announcements if isinstance(announcements, list) else []:
        try:
            old_kid, claims = _verify(jws, sub.pinned_keys, typ=ROLLOVER_TYPE)
        except Rejected:
            continue  # signed by a key not pinned here (or not at all): it proves nothing
        new = _ed25519_keys({"keys": [claims.get("new_key")]})
        for kid, jwk in new.items():
            if kid not in sub.pinned_keys:
                sub.pinned_keys = {**sub.pinned_keys, kid: jwk}
                added.append(kid)
                record_event(None, "federation.key_pinned", sub, origin=sub.origin, kid=kid, announced_by=old_kid)
    db.session.flush()
    return added


def read_page(sub: FeedSubscription, url: str) -> tuple[list[dict], str | None]:
    """(entries, next page URL) of one feed page, its key rollover followed first.
    FetchRefused / FetchFailed when the page cannot be read."""
    _final, page = remote.fetch_json(url, sub.origin)
    follow_rollover(sub, page.get("key_rollover"))
    entries = [entry for entry in page.get("entries") or [] if isinstance(entry, dict)]
    following = page.get("next") if isinstance(page.get("next"), str) else None
    return entries, following


@dataclass(frozen=True)
class EntryClaims:
    code: str
    version: int
    title: str
    publisher_name: str
    archive_url: str
    size: int
    sha256: str
    updated_at: str


def verify_entry(sub: FeedSubscription, item: dict) -> EntryClaims:
    _kid, claims = _verify(item.get("jws"), sub.pinned_keys, typ=ENTRY_TYPE)
    if not isinstance(claims.get("iss"), str) or remote.origin_of(claims["iss"]) != sub.origin:
        raise Rejected(_("条目的签发平台（%(iss)s）与订阅的平台不符，已拒绝。", iss=str(claims.get("iss"))[:100]))
    code, version, size = claims.get("code"), claims.get("version"), claims.get("size")
    publisher = claims.get("publisher") if isinstance(claims.get("publisher"), dict) else {}
    if not isinstance(code, str) or not CODE_PATTERN.match(code) or isinstance(version, bool) \
            or not isinstance(version, int) or version < 1 or isinstance(size, bool) or not isinstance(size, int) \
            or size < 1 or not isinstance(claims.get("sha256"), str) or not _HEX64.match(claims["sha256"]) \
            or not isinstance(claims.get("archive_url"), str) or not isinstance(publisher.get("name"), str):
        raise Rejected(_("条目缺少或含有无效的字段（课程编号、版本、大小、SHA-256、课程包地址或发布机构），已拒绝。"))
    return EntryClaims(code=code, version=version, title=str(claims.get("title") or "")[:120],
                       publisher_name=publisher["name"][:120], archive_url=claims["archive_url"], size=size,
                       sha256=claims["sha256"], updated_at=str(claims.get("updated_at") or item.get("updated_at") or ""))


def already_imported(sub: FeedSubscription, claims: EntryClaims) -> bool:
    return db.session.scalar(select(CourseOrigin.id).where(
        CourseOrigin.instance_url == sub.origin, CourseOrigin.original_code == claims.code,
        CourseOrigin.original_version == claims.version)) is not None


def _check_code_is_ours(sub: FeedSubscription, code: str) -> None:
    """A code already used here must be this origin's course (then the entry is its next version)."""
    ids = list(db.session.scalars(select(Course.id).where(Course.code == code)))
    if not ids:
        return
    from_here = db.session.scalar(select(func.count()).select_from(CourseOrigin).where(
        CourseOrigin.course_id.in_(ids), CourseOrigin.instance_url == sub.origin))
    if from_here != len(ids):
        raise Rejected(_("本平台已有编号为 %(code)s 的其他课程，与订阅的课程编号冲突，未导入。", code=code))


@dataclass
class Taken:
    """What :func:`take_entry` did: the row it wrote (None: already imported, nothing to do)."""

    entry: FeedEntry | None
    created_files: list[Path] = field(default_factory=list)


def _log(sub, claims_or_item, outcome: EntryOutcome, reason: str = "", course: Course | None = None) -> FeedEntry:
    if isinstance(claims_or_item, EntryClaims):
        code, version, title = claims_or_item.code, claims_or_item.version, claims_or_item.title
    else:  # a refused entry: its unsigned summary, as the feed listed it
        code = str(claims_or_item.get("code") or "?")[:32]
        version = claims_or_item.get("version") if isinstance(claims_or_item.get("version"), int) else None
        title = str(claims_or_item.get("title") or "")[:120]
    row = FeedEntry(subscription_id=sub.id, code=code, version=version, title=title, outcome=outcome, reason=reason,
                    course_id=course.id if course is not None else None)
    db.session.add(row)
    db.session.flush()
    return row


def take_entry(sub: FeedSubscription, item: dict) -> Taken:
    """Check one feed entry and import its package, or record why not. Raises FetchFailed (a
    network failure: the pull stops here and the next one tries this entry again)."""
    taken = Taken(entry=None)
    try:
        claims = verify_entry(sub, item)
    except Rejected as exc:
        taken.entry = _log(sub, item, EntryOutcome.REJECTED, exc.message)
        record_event(None, "federation.entry_rejected", sub, code=taken.entry.code, version=taken.entry.version,
                     reason=exc.message, signed=False)
        return taken
    if already_imported(sub, claims):
        return taken
    try:
        with db.session.begin_nested():
            course = _download_and_import(sub, claims, taken.created_files)
    except IntegrityError:
        # Another pull of this feed took the same entry (or the next version number) meanwhile:
        # nothing of this attempt stays, and the entry is not refused.
        _remove(taken.created_files)
        return taken
    except (Rejected, remote.FetchRefused) as exc:
        _remove(taken.created_files)
        taken.entry = _log(sub, claims, EntryOutcome.REJECTED, exc.message)
        record_event(None, "federation.entry_rejected", sub, code=claims.code, version=claims.version,
                     reason=exc.message)
        return taken
    except BaseException:
        _remove(taken.created_files)
        raise
    taken.entry = _log(sub, claims, EntryOutcome.IMPORTED, course=course)
    return taken


def _remove(created: list) -> None:
    remove_created(created)  # stored objects (keys) and local files (paths)


def _download_and_import(sub: FeedSubscription, claims: EntryClaims, created_files: list[Path]) -> Course:
    _check_code_is_ours(sub, claims.code)
    max_bytes = current_app.config["LMS_PACKAGE_MAX_MB"] * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="federation-") as scratch:
        archive = Path(scratch) / "package.zip"
        fetched = remote.download(claims.archive_url, sub.origin, archive, token=crypto.decrypt(sub.token_encrypted),
                                  declared_size=claims.size)
        if fetched.size != claims.size:
            raise Rejected(_("课程包大小与签名条目不符（声明 %(declared)s 字节，实际 %(actual)s 字节），已拒绝，未导入。",
                             declared=claims.size, actual=fetched.size))
        if fetched.sha256 != claims.sha256:
            raise Rejected(_("课程包的 SHA-256 与签名条目不符（内容被改动过或传输出错），已拒绝，未导入。"))
        try:
            root = unpack(archive, Path(scratch) / "unpacked", max_bytes=max_bytes)
            dirs = [p.parent for p in root.rglob("course.yaml")]
            packages = load_packages(dirs) if dirs else []
            if len(packages) != 1 or packages[0].code != claims.code:
                raise Rejected(_("课程包应只含课程 %(code)s，已拒绝。", code=claims.code))
            result = import_packages(None, packages, publish=False, created_files=created_files, next_version=True)
        except PackageError as exc:
            raise Rejected(_("课程包未通过校验：%(problems)s", problems=_("；").join(map(str, exc.problems[:5])))) from None
        except DomainError as exc:
            raise Rejected(_("课程包未能导入：%(reason)s", reason=exc.message)) from None
    course = result.imported[0]
    db.session.add(CourseOrigin(course_id=course.id, subscription_id=sub.id, instance_name=sub.instance_name,
                                instance_url=sub.origin, publisher_name=claims.publisher_name,
                                original_code=claims.code, original_version=claims.version, sha256=claims.sha256))
    approver = db.session.get(User, sub.created_by_id) if sub.created_by_id else None
    record_event(None, "federation.imported", course, origin=sub.origin, code=claims.code, version=claims.version,
                 local_version=course.version, sha256=claims.sha256, subscription_id=sub.id)
    if sub.publish_at_once and approver is not None:
        publish_imported_version(approver, course, reason=_("订阅 %(origin)s 的课程共享，按订阅设置直接发布",
                                                            origin=sub.origin))
    db.session.flush()
    return course
