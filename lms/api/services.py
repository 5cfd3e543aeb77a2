"""API clients (issue, revoke, authenticate) and their webhook subscriptions.

A token is ``<key_id>.<secret>``; only an HMAC-SHA256 of the secret, keyed with a key derived from
LMS_DATA_KEY, is stored, so a copy of the database does not let anyone call the API. Services take
the acting person and flush; the route commits.
"""

import hashlib
import hmac
import ipaddress
import re
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from flask_babel import gettext as _
from limits import parse_many
from sqlalchemy import delete, or_, select, update

from ..accounts import crypto
from ..accounts.models import Organization, Region, Role
from ..core.audit import record_event
from ..core.clock import local_zone, now, utcnow_naive
from ..core.errors import DomainError, InvalidInput, NotAllowed, NotFound
from ..exports import records
from ..extensions import db, limiter
from .models import WEBHOOK_EVENTS, ApiClient, TokenReveal, WebhookSubscription

MAX_NAME = 80
MAX_URL = 500
# last_used_at is written at most this often, so reading the API is not a write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_VALID_YEARS = 5  # an end date at most this far ahead
ROTATION_GRACE_CHOICES = (0, 24, 24 * 7)  # hours the previous secret keeps working after a rotation


class ApiError(DomainError):
    """An HR API error with its own machine-readable code (and, for 401, a WWW-Authenticate header)."""

    def __init__(self, status: int, code: str, message: str, *, parameter: str | None = None,
                 headers: dict | None = None):
        super().__init__(message, field=parameter)
        self.status = status
        self.code = code
        self.headers = headers or {}


# ---------------------------------------------------------------- secrets

def _secret_key() -> bytes:
    secret = current_app.config["LMS_DATA_KEY"].encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"gongxu-lms", info=b"api-client-secret").derive(secret)


def secret_hash(secret: str) -> str:
    return hmac.new(_secret_key(), secret.encode(), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- who may manage which clients

def _auditor_regions(actor) -> set[str]:
    return {g.region_code for g in actor.grants_for(Role.HR_AUDITOR) if g.region_code}


def _require_manager(actor) -> None:
    if actor is None or not (actor.has_role(Role.ADMIN) or actor.has_role(Role.HR_AUDITOR)):
        raise NotAllowed(_("只有人社审核人员和平台管理员可以管理接口凭证。"))


def _client_region(client: ApiClient) -> str | None:
    if client.region_code is not None:
        return client.region_code
    return client.organization.region_code if client.organization else None


def may_manage(actor, client: ApiClient) -> bool:
    if actor.has_role(Role.ADMIN):
        return True
    return _client_region(client) in _auditor_regions(actor)


def clients_visible_to(actor) -> list[ApiClient]:
    """The clients an admin (all) or HR auditor (those of their regions and their regions' units) sees."""
    _require_manager(actor)
    query = select(ApiClient).order_by(ApiClient.revoked_at.is_not(None), ApiClient.created_at.desc(),
                                       ApiClient.id.desc())
    if not actor.has_role(Role.ADMIN):
        regions = _auditor_regions(actor)
        query = query.outerjoin(Organization, Organization.id == ApiClient.organization_id).where(
            or_(ApiClient.region_code.in_(regions), Organization.region_code.in_(regions)))
    return list(db.session.scalars(query))


def visible_client(actor, client_id: int) -> ApiClient:
    """One client the actor may manage; others are reported as not found."""
    _require_manager(actor)
    client = db.session.get(ApiClient, client_id)
    if client is None or not may_manage(actor, client):
        raise NotFound(_("没有找到这个接口凭证，或您无权管理它。"))
    return client


def issuable_regions(actor) -> list:
    query = select(Region).order_by(Region.code)
    if not actor.has_role(Role.ADMIN):
        query = query.where(Region.code.in_(_auditor_regions(actor)))
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class ClientRequest:
    name: str
    region: str | None = None  # a region code, or
    unit: str | None = None  # a unit's credit code
    full_id_numbers: bool = False
    expires_on: date | None = None  # the last day the token works (platform time zone); None: no end


def _today() -> date:
    return now().astimezone(local_zone()).date()


def _expiry(last_day: date | None) -> datetime | None:
    """When a token whose last day is ``last_day`` stops working: the local midnight after it, as
    stored (naive UTC). InvalidInput (field ``expires_on``) for a day before today or more than
    MAX_VALID_YEARS ahead."""
    if last_day is None:
        return None
    today = _today()
    if last_day < today:
        raise InvalidInput(_("有效期不能早于今天（%(today)s）。", today=today.isoformat()), field="expires_on")
    try:
        latest = today.replace(year=today.year + MAX_VALID_YEARS)
    except ValueError:  # 29 February
        latest = today.replace(year=today.year + MAX_VALID_YEARS, day=28)
    if last_day > latest:
        raise InvalidInput(_("有效期最长 %(years)s 年（至 %(latest)s）；到期前可更换密钥并重新设定。", years=MAX_VALID_YEARS,
                             latest=latest.isoformat()),
                           field="expires_on")
    midnight = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=local_zone())
    return midnight.astimezone(UTC).replace(tzinfo=None)


def last_valid_day(client: ApiClient) -> date | None:
    """The last day (platform time zone) the client's token works, or None when it has no end."""
    if client.expires_at is None:
        return None
    return (client.expires_at.replace(tzinfo=UTC).astimezone(local_zone()) - timedelta(seconds=1)).date()


def issue_client(actor, data: ClientRequest) -> tuple[ApiClient, str]:
    """A new client and its token (returned once; only the secret's keyed hash is kept)."""
    _require_manager(actor)
    name = (data.name or "").strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise InvalidInput(_("请填写接口名称（不超过 %(MAX_NAME)s 字），例如对接系统的名称。", MAX_NAME=MAX_NAME), field="name")
    region = (data.region or "").strip()
    unit = (data.unit or "").strip()
    if bool(region) == bool(unit):
        raise InvalidInput(_("请选择一个地区，或填写一个单位的统一社会信用代码（二选一）。"), field="unit" if unit else "region")
    is_admin = actor.has_role(Role.ADMIN)
    org = None
    if region:
        reg = records.region_by_code(region)
        if not is_admin and reg.code not in _auditor_regions(actor):
            raise NotAllowed(_("您只能为本人负责的地区签发接口凭证，不能为 %(name)s（%(code)s）签发。", name=reg.name, code=reg.code))
        region = reg.code
    else:
        org = records.organization_by_code(unit)
        if not is_admin:
            if org.region_code not in _auditor_regions(actor):
                raise NotAllowed(_("单位 %(name)s（%(credit_code)s）不在您负责的地区，不能为其签发接口凭证。", name=org.name, credit_code=org.credit_code))
            # An auditor reads their region only: the unit's employees who live elsewhere stay out.
            region = org.region_code
    expires_at = _expiry(data.expires_on)
    secret = secrets.token_urlsafe(32)
    client = ApiClient(name=name, key_id=secrets.token_hex(8), secret_hash=secret_hash(secret),
                       organization_id=org.id if org else None, region_code=region or None,
                       full_id_numbers=bool(data.full_id_numbers), created_by_id=actor.id, expires_at=expires_at)
    db.session.add(client)
    db.session.flush()
    record_event(actor, "api_client.issue", client, name=name, region_code=client.region_code,
                 organization_id=client.organization_id, full_id_numbers=client.full_id_numbers,
                 expires_on=data.expires_on.isoformat() if data.expires_on else None)
    return client, f"{client.key_id}.{secret}"


def rotate_client(actor, client: ApiClient, *, grace: timedelta, expires_on: date | None = None) -> str:
    """A new secret for ``client`` (same key id, scope and rights); returns the new token, shown once.

    The secret it replaces keeps working for ``grace`` (none: ends now), so the system using it can
    switch without a gap; a secret from before that one ends now. ``expires_on`` sets a new last day
    (None keeps the current end)."""
    if not may_manage(actor, client):
        raise NotFound(_("没有找到这个接口凭证，或您无权管理它。"))
    if client.revoked_at is not None:
        raise InvalidInput(_("此接口凭证已吊销，不能更换密钥。请签发新的凭证。"), field="grace_hours")
    if grace < timedelta(0) or grace > timedelta(hours=max(ROTATION_GRACE_CHOICES)):
        raise InvalidInput(_("旧密钥的过渡期最长 7 天。"), field="grace_hours")
    new_expiry = _expiry(expires_on) if expires_on is not None else client.expires_at
    at = utcnow_naive()
    secret = secrets.token_urlsafe(32)
    client.previous_secret_hash = client.secret_hash if grace else None
    client.previous_secret_expires_at = at + grace if grace else None
    client.secret_hash = secret_hash(secret)
    client.rotated_at = at
    client.expires_at = new_expiry
    record_event(actor, "api_client.rotate", client, name=client.name, grace_hours=int(grace.total_seconds() // 3600),
                 expires_on=last_valid_day(client).isoformat() if client.expires_at else None)
    db.session.flush()
    return f"{client.key_id}.{secret}"


# A token is shown on the page after the POST that made it, within this many seconds, once.
REVEAL_SECONDS = 300


def hold_token(actor, client: ApiClient, token: str, *, rotated: bool = False) -> str:
    """Keep a new token (encrypted) for the next page view of ``actor``; returns the key to find it by.
    Tokens held longer than REVEAL_SECONDS are deleted here, shown or not."""
    at = utcnow_naive()
    db.session.execute(delete(TokenReveal).where(TokenReveal.expires_at <= at))
    key = secrets.token_urlsafe(32)
    db.session.add(TokenReveal(key=key, client_id=client.id, user_id=actor.id, token_encrypted=crypto.encrypt(token),
                               rotated=rotated, expires_at=at + timedelta(seconds=REVEAL_SECONDS)))
    db.session.flush()
    return key


def take_token(actor, key: str | None) -> tuple[ApiClient, str, bool] | None:
    """The token held under ``key`` for ``actor`` (client, token, rotated), deleted as it is taken;
    None when there is none, it was shown already, it expired or it is someone else's."""
    reveal = db.session.get(TokenReveal, key) if isinstance(key, str) and key else None
    if reveal is None:
        return None
    db.session.delete(reveal)
    db.session.flush()
    if reveal.user_id != actor.id or reveal.expires_at <= utcnow_naive():
        return None
    return reveal.client, crypto.decrypt(reveal.token_encrypted), reveal.rotated


def revoke_client(actor, client: ApiClient) -> None:
    if not may_manage(actor, client):
        raise NotFound(_("没有找到这个接口凭证，或您无权管理它。"))
    if client.revoked_at is not None:
        return
    client.revoked_at = utcnow_naive()
    client.revoked_by_id = actor.id
    record_event(actor, "api_client.revoke", client, name=client.name)
    db.session.flush()


# ---------------------------------------------------------------- bearer authentication

_BEARER = 'Bearer realm="gongxu-lms"'


def _failure_limits():
    return parse_many(current_app.config["LMS_API_AUTH_FAILURE_LIMIT"])


def _failure_keys(key_id: str, source: str | None) -> list[tuple[str, ...]]:
    """Wrong secrets are counted per key id from one address (a guesser at one client's token),
    and per address over all key ids (a guesser trying many)."""
    if not source:
        return [("lms-api-auth", key_id)]
    return [("lms-api-auth", key_id, source), ("lms-api-auth-from", source)]


def _refused_for(key_id: str, source: str | None) -> int:
    """Seconds until attempts with ``key_id`` from ``source`` are checked again (0: now)."""
    if not limiter.enabled:
        return 0
    strategy = limiter.limiter
    waits = [max(1, int(strategy.get_window_stats(item, *key)[0] - time.time()) + 1)
             for item in _failure_limits() for key in _failure_keys(key_id, source) if not strategy.test(item, *key)]
    return max(waits, default=0)


def _count_failure(key_id: str, source: str | None) -> None:
    if limiter.enabled:
        for item in _failure_limits():
            for key in _failure_keys(key_id, source):
                limiter.limiter.hit(item, *key)


def authenticate(authorization: str | None, *, source: str | None = None) -> ApiClient:
    """The client named by an ``Authorization: Bearer <key_id>.<secret>`` header, or an ApiError
    (401; 429 while wrong secrets from ``source``, the client's address, are over
    ``LMS_API_AUTH_FAILURE_LIMIT``: then not even the right one is checked from there, while the
    client keeps working from its own address)."""
    if not authorization or not authorization.strip():
        raise ApiError(401, "missing_token", _("缺少接口凭证。请在请求头中提供 Authorization: Bearer <凭证>。"),
                       headers={"WWW-Authenticate": _BEARER})
    scheme, _space, token = authorization.strip().partition(" ")
    invalid = ApiError(401, "invalid_token", _("接口凭证无效。请核对凭证，或联系签发人重新签发。"),
                       headers={"WWW-Authenticate": f'{_BEARER}, error="invalid_token"'})
    if scheme.lower() != "bearer":
        raise invalid
    key_id, dot, secret = token.strip().partition(".")
    if not dot or not re.fullmatch(r"[0-9a-f]{1,32}", key_id) or not re.fullmatch(r"[A-Za-z0-9_-]{1,200}", secret):
        raise invalid
    wait = _refused_for(key_id, source)
    if wait:
        raise ApiError(429, "rate_limited", _("接口凭证错误次数过多，请 %(wait)s 秒后再试。请核对凭证是否完整，"
                                              "以及是否已更换密钥（更换后旧密钥只在过渡期内有效）。", wait=wait),
                       headers={"Retry-After": str(wait)})
    client = db.session.scalar(select(ApiClient).where(ApiClient.key_id == key_id))
    presented = secret_hash(secret)
    at = utcnow_naive()
    current = hmac.compare_digest(presented, client.secret_hash if client is not None else "0" * 64)
    previous = client is not None and client.previous_secret_hash is not None and hmac.compare_digest(
        presented, client.previous_secret_hash) and (client.previous_secret_expires_at or at) > at
    if client is None or not (current or previous):
        _count_failure(key_id, source)
        raise invalid
    if client.revoked_at is not None:
        raise ApiError(401, "token_revoked", _("此接口凭证已被吊销。请联系签发人重新签发。"),
                       headers={"WWW-Authenticate": f'{_BEARER}, error="invalid_token"'})
    if client.is_expired(at):
        raise ApiError(401, "token_expired", _("此接口凭证的有效期已于 %(day)s 结束。请联系签发人更换密钥并设定新的有效期，"
                                               "或重新签发。", day=last_valid_day(client).isoformat()),
                       headers={"WWW-Authenticate": f'{_BEARER}, error="invalid_token"'})
    return client


def note_use(client_id: int, last_used_at) -> None:
    """Mark the client as used now, at most once per LAST_USED_RESOLUTION.

    A conditional UPDATE of its own: call it after the request's reads are committed, so that on
    SQLite the transaction starts with the write (a read-then-write transaction fails at once when
    another writer committed in between) and so that concurrent workers write it once."""
    now = utcnow_naive()
    if last_used_at is not None and now - last_used_at < LAST_USED_RESOLUTION:
        return
    db.session.execute(update(ApiClient).where(
        ApiClient.id == client_id,
        or_(ApiClient.last_used_at.is_(None), ApiClient.last_used_at <= now - LAST_USED_RESOLUTION))
        .values(last_used_at=now))


# ---------------------------------------------------------------- webhooks

def _refused_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def resolve_public_address(host: str, port: int) -> str:
    """The address to connect to for ``host``, if every address it resolves to is public.

    InvalidInput (field ``url``) when the host is local, does not resolve, or any of its addresses
    is loopback, private, link-local, reserved or multicast. Registration checks the URL with it,
    and delivery again just before each send, connecting to the address returned (DNS may have
    changed since)."""
    host = (host or "").rstrip(".")
    if not host or host == "localhost" or host.endswith(".localhost"):
        raise InvalidInput(_("网址 url 不能指向本机或内部网络地址。"), field="url")
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise InvalidInput(_("无法解析网址 url 中的主机名 %(host)s，请核对。", host=host), field="url") from None
    addresses = [info[4][0].split("%")[0] for info in infos]
    if not addresses or any(_refused_address(a) for a in addresses):
        raise InvalidInput(_("网址 url 不能指向本机或内部网络地址。"), field="url")
    return addresses[0]


def check_webhook_url(url: str, *, allow_http: bool | None = None, allow_private: bool | None = None) -> str:
    """The URL, normalised, if events may be sent to it; InvalidInput naming what is wrong otherwise.

    Delivery checks the resolved address again (:func:`resolve_public_address`) before each send."""
    config = current_app.config
    allow_http = config["LMS_WEBHOOK_ALLOW_HTTP"] if allow_http is None else allow_http
    allow_private = config["LMS_WEBHOOK_ALLOW_PRIVATE"] if allow_private is None else allow_private
    url = (url or "").strip() if isinstance(url, str) else ""
    if not url:
        raise InvalidInput(_("请提供接收事件的网址 url。"), field="url")
    if len(url) > MAX_URL:
        raise InvalidInput(_("网址 url 过长（不超过 %(MAX_URL)s 个字符）。", MAX_URL=MAX_URL), field="url")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise InvalidInput(_("网址 url 不能包含空白或控制字符。"), field="url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInput(_("网址 url 格式不正确，应为 https://主机名/路径。"), field="url") from None
    allowed = ("https", "http") if allow_http else ("https",)
    if parts.scheme.lower() not in allowed:
        raise InvalidInput(_("网址 url 必须以 https:// 开头。") if not allow_http else _("网址 url 必须以 http:// 或 https:// 开头。"),
                           field="url")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(_("网址 url 不能包含用户名或密码；请用签名密钥验证事件来源。"), field="url")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidInput(_("网址 url 缺少主机名。"), field="url")
    if parts.fragment:
        raise InvalidInput(_("网址 url 不能包含 # 片段。"), field="url")
    if not allow_private:
        resolve_public_address(host, port or (443 if parts.scheme.lower() == "https" else 80))
    return url


def _events(events) -> list[str]:
    if events is None:
        return list(WEBHOOK_EVENTS)
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise InvalidInput(_("events 应为事件名称的列表，可选：%(events)s。", events=_("、").join(WEBHOOK_EVENTS)),
                           field="events")
    unknown = [e for e in events if e not in WEBHOOK_EVENTS]
    if unknown:
        raise InvalidInput(_("events 中的事件 %(unknown)s 不受支持，可选：%(events)s。", unknown=_("、").join(unknown),
                             events=_("、").join(WEBHOOK_EVENTS)),
                           field="events")
    return [e for e in WEBHOOK_EVENTS if e in events]


def register_webhook(client: ApiClient, url: str, events=None) -> tuple[WebhookSubscription, str]:
    """A subscription of ``client`` and its signing secret (returned once; kept encrypted).

    ``url`` is one :func:`check_webhook_url` accepted (it resolves the host: the caller does that
    before holding any lock). A client has at most ``LMS_WEBHOOK_MAX_PER_CLIENT`` active subscriptions."""
    # The client's row is locked (PostgreSQL) so two registrations at once cannot both pass the cap.
    db.session.execute(select(ApiClient.id).where(ApiClient.id == client.id).with_for_update())
    limit = int(current_app.config["LMS_WEBHOOK_MAX_PER_CLIENT"])
    if len(client_webhooks(client)) >= limit:
        raise InvalidInput(_("每个接口凭证最多登记 %(limit)s 个事件订阅，已达上限。请先删除不再使用的订阅"
                             "（DELETE /api/v1/webhooks/<编号>），再登记新的。", limit=limit), field="url")
    chosen = _events(events)
    secret = secrets.token_urlsafe(32)
    subscription = WebhookSubscription(client=client, url=url, secret_encrypted=crypto.encrypt(secret),
                                       events=",".join(chosen))
    db.session.add(subscription)
    db.session.flush()
    record_event(None, "webhook.register", subscription, api_client_id=client.id, url=url, events=chosen)
    return subscription, secret


def client_webhooks(client: ApiClient) -> list[WebhookSubscription]:
    return list(db.session.scalars(select(WebhookSubscription).where(
        WebhookSubscription.api_client_id == client.id, WebhookSubscription.deleted_at.is_(None))
        .order_by(WebhookSubscription.id)))


def client_webhook(client: ApiClient, subscription_id: int) -> WebhookSubscription:
    """One live subscription of ``client``; ApiError 404 for another client's, a deleted or a missing one."""
    subscription = db.session.get(WebhookSubscription, subscription_id) if 0 < subscription_id < 2**31 else None
    if subscription is None or subscription.api_client_id != client.id or subscription.deleted_at is not None:
        raise ApiError(404, "not_found", _("没有找到编号为 %(subscription_id)s 的事件订阅。", subscription_id=subscription_id))
    return subscription


def delete_webhook(client: ApiClient, subscription_id: int) -> None:
    subscription = db.session.get(WebhookSubscription, subscription_id) if 0 < subscription_id < 2**31 else None
    if subscription is None or subscription.api_client_id != client.id or subscription.deleted_at is not None:
        raise ApiError(404, "not_found", _("没有找到编号为 %(subscription_id)s 的事件订阅。", subscription_id=subscription_id))
    subscription.deleted_at = utcnow_naive()
    record_event(None, "webhook.delete", subscription, api_client_id=client.id, url=subscription.url)
    db.session.flush()
