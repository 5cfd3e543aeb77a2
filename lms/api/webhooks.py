"""Webhook events: ``credit_record.created`` and ``credit_record.voided``, signed, through the outbox.

When a ledger entry is written, every active subscription (not deleted, its API client not revoked)
that asked for the event and whose client's scope covers the entry gets one outbox message, in the
same transaction. The message holds only the event's id, type and time and the entries' ids — no
personal data. The body is built when it is sent, from the database as it is then (so a
``credit_record.created`` event carries the certificate issued in the same transaction). The scope
is checked with the one scoped record query (:func:`lms.exports.records.record_query`) both times:
an entry the client could not read through the API never leaves in a webhook, and an entry that
has left the client's scope by the time of sending (say, the person left the unit) is not sent —
its message is marked undeliverable. Each send to a client granted full ID numbers is audited
(``webhook.full_id_numbers``).

Before each send the receiver's host is resolved again and refused if any address is loopback,
private, link-local or reserved (unless ``LMS_WEBHOOK_ALLOW_PRIVATE``); the connection goes to the
checked address (``Host`` header and TLS SNI/certificate name stay the URL's host), so a DNS
change after registration cannot point events at an internal service. A refused address is
retried with backoff, the reason in ``flask outbox status``. Redirects are never followed.

Each delivery is a ``POST`` of a JSON body (UTF-8)::

    {"id": "<event uuid>", "type": "credit_record.created" | "credit_record.voided",
     "created_at": "2026-03-10T02:00:00Z",
     "data": {<the entry, as GET /api/v1/credit-records returns it>},
     "voided_by": {<the correcting or revoking entry>}}        # voided only

with the headers

- ``X-Gongxu-Event``: the type; ``X-Gongxu-Delivery``: the event id (the same on every retry);
- ``X-Gongxu-Timestamp``: Unix seconds when this attempt was sent;
- ``X-Gongxu-Signature``: ``sha256=`` + hex HMAC-SHA256 with the subscription's secret over
  ``f"{timestamp}.{body}"`` (the timestamp header, a dot, the raw body bytes).

Verifying a delivery (the receiver)::

    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw_body, hashlib.sha256).hexdigest()
    ok = hmac.compare_digest("sha256=" + expected, signature) and abs(time.time() - int(timestamp)) <= 300

Reject a request whose signature does not match or whose timestamp is more than 5 minutes away
(a replay). Answer 2xx once the event is stored; anything else (or no answer within
``LMS_OUTBOX_TIMEOUT_SECONDS``) is retried with backoff, so apply each ``id`` only once.
Events of one subscription arrive in the order they happened: the next is held back until the
previous one was delivered. One given up as failed (after ``LMS_OUTBOX_MAX_ATTEMPTS`` attempts)
still holds the later ones back until an operator runs ``flask outbox retry``; only an
undeliverable one (see above) lets them pass.
"""

import hashlib
import hmac
import json
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import or_, select

from ..accounts import crypto
from ..accounts.models import EmploymentStatus, User
from ..core import signals
from ..core.clock import iso_utc, now, utcnow_naive
from ..core.errors import InvalidInput, NotAllowed
from ..credits.models import CreditRecord
from ..exports import records
from ..extensions import db
from ..outbox.delivery import NotReady, OutgoingRequest, Undeliverable, add_message, sender
from .models import ApiClient, WebhookSubscription
from .services import resolve_public_address

CHANNEL = "webhook"  # the outbox channel of webhook messages

CREATED = "credit_record.created"
VOIDED = "credit_record.voided"
SIGNATURE_TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Gongxu-Signature`` value for a body sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, at: float | None = None,
           tolerance: int = SIGNATURE_TOLERANCE_SECONDS) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if at is None else at) - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature or "")


# ---------------------------------------------------------------- enqueueing (inside the ledger transaction)

def active_subscriptions(event_type: str, user: User | None = None) -> list[WebhookSubscription]:
    """Active subscriptions to ``event_type``; with ``user``, only those whose client's unit (if it
    has one) is the user's approved employer and whose region (if it has one) is the user's — a
    cheap filter in SQL; the scoped record query still decides."""
    query = (select(WebhookSubscription).join(ApiClient, ApiClient.id == WebhookSubscription.api_client_id)
             .where(WebhookSubscription.deleted_at.is_(None), ApiClient.revoked_at.is_(None),
                    or_(ApiClient.expires_at.is_(None), ApiClient.expires_at > utcnow_naive()))
             .order_by(WebhookSubscription.id))
    if user is not None:
        employer = user.employer_id if user.employment_status == EmploymentStatus.APPROVED else None
        query = query.where(
            or_(ApiClient.organization_id.is_not(None), ApiClient.region_code.is_not(None)),
            or_(ApiClient.organization_id.is_(None), ApiClient.organization_id == employer),
            or_(ApiClient.region_code.is_(None), ApiClient.region_code == user.region_code))
    return [s for s in db.session.scalars(query) if event_type in s.event_list]


def _row_in_scope(client: ApiClient, record_id: int | None):
    """The entry as the client may read it, or None when it is outside the client's scope."""
    if record_id is None:
        return None
    try:
        scope = records.scope_of_client(client)
    except NotAllowed:  # a client without a scope sees nothing
        return None
    return db.session.execute(records.record_query(scope, active_only=False)
                              .where(CreditRecord.id == record_id)).first()


def enqueue_event(event_type: str, record: CreditRecord, *, voided_by: CreditRecord | None = None) -> int:
    """One outbox message per subscription that may see ``record``; returns how many.

    The message holds no personal data: the event's id, type and time and the entries' ids."""
    db.session.flush()
    user = db.session.get(User, record.user_id)
    subs = active_subscriptions(event_type, user)
    if not subs:
        return 0
    in_scope: dict[int, bool] = {}  # one scoped query per client, not per subscription
    added = 0
    for sub in subs:
        if sub.api_client_id not in in_scope:
            in_scope[sub.api_client_id] = _row_in_scope(sub.client, record.id) is not None
        if not in_scope[sub.api_client_id]:
            continue
        event_id = str(uuid.uuid4())
        add_message(channel=CHANNEL, event_type=event_type, event_id=event_id, subscription_id=sub.id,
                    payload={"id": event_id, "type": event_type, "created_at": iso_utc(now()), "record_id": record.id,
                             "voided_by_id": voided_by.id if voided_by is not None else None})
        added += 1
    return added


def on_record_created(record, **extra):
    enqueue_event(CREATED, record)


def on_record_voided(record, by=None, **extra):
    enqueue_event(VOIDED, record, voided_by=by)


def connect_signals() -> None:
    signals.credit_record_created.connect(on_record_created)
    signals.credit_record_voided.connect(on_record_voided)


# ---------------------------------------------------------------- sending (by the outbox worker)

def _stored_ids(payload: dict) -> tuple[int | None, int | None]:
    """The record's and the voiding entry's ids from a stored message (also one written whole,
    as messages once were)."""
    if "record_id" in payload:
        return payload["record_id"], payload.get("voided_by_id")
    data, by = payload.get("data") or {}, payload.get("voided_by") or {}
    return data.get("id"), by.get("id")


def event_body(message, client: ApiClient) -> tuple[bytes, int]:
    """The JSON body of a message as the client may read it now, and the record's id.

    Undeliverable when the record is no longer in the client's scope."""
    stored = json.loads(message.payload)
    record_id, voided_by_id = _stored_ids(stored)
    row = _row_in_scope(client, record_id)
    if row is None:
        raise Undeliverable(_("学时记录 #%(record_id)s 已不在此接口凭证的查看范围内（如人员已离开该单位或地区），"
                              "事件不再发送。", record_id=record_id))
    full = client.full_id_numbers
    body = {"id": message.event_id, "type": message.event_type, "created_at": stored.get("created_at"),
            "data": records.record_json(row, full_id_numbers=full)}
    if message.event_type == VOIDED:
        by_row = _row_in_scope(client, voided_by_id)
        body["voided_by"] = records.record_json(by_row, full_id_numbers=full) if by_row is not None else None
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), record_id


def pinned_target(url: str) -> tuple[str, dict[str, str], dict]:
    """(URL, extra headers, httpx extensions) to reach ``url`` through an address checked just now.

    Unless ``LMS_WEBHOOK_ALLOW_PRIVATE``, the host is resolved again and refused (NotReady: retried
    later) if it is local or any address is not public; the URL then names the checked IP address,
    with the ``Host`` header and (https) the TLS server name — SNI and certificate check — set to
    the original host, so the connection cannot go anywhere else."""
    if current_app.config.get("LMS_WEBHOOK_ALLOW_PRIVATE"):
        return url, {}, {}
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    try:
        address = resolve_public_address(host, parts.port or (443 if scheme == "https" else 80))
    except (InvalidInput, ValueError) as exc:
        raise NotReady(_("发送前检查接收地址未通过（%(host)s）：%(reason)s事件暂不发送，稍后重试。", host=host,
                         reason=getattr(exc, "message", exc))) from None
    literal = f"[{address}]" if ":" in address else address
    netloc = literal + (f":{parts.port}" if parts.port is not None else "")
    target = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    headers = {"Host": parts.netloc.rpartition("@")[2]}
    extensions = {"sni_hostname": host} if scheme == "https" else {}
    return target, headers, extensions


@sender(CHANNEL)
def build_request(message) -> OutgoingRequest:
    """The signed POST for one webhook message: the body as the client may read it now, timestamped
    now, to an address checked now."""
    sub = db.session.get(WebhookSubscription, message.subscription_id) if message.subscription_id else None
    if sub is None or sub.deleted_at is not None:
        raise Undeliverable(_("订阅已删除，事件不再发送。"))
    client = sub.client
    if client is None or client.revoked_at is not None:
        raise Undeliverable(_("接口凭证已吊销，事件不再发送。"))
    if client.is_expired():
        raise Undeliverable(_("接口凭证已过有效期，事件不再发送。"))
    body, record_id = event_body(message, client)
    url, extra_headers, extensions = pinned_target(sub.url)
    timestamp = int(now().timestamp())
    secret = crypto.decrypt(sub.secret_encrypted)
    audit = None
    if client.full_id_numbers:
        audit = ("webhook.full_id_numbers", {"api_client_id": client.id, "subscription_id": sub.id,
                                             "message_id": message.id, "record_id": record_id,
                                             "event_id": message.event_id})
    return OutgoingRequest(url=url, body=body, extensions=extensions, audit=audit, headers={
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Gongxu-LMS-Webhook/1",
        "X-Gongxu-Event": message.event_type,
        "X-Gongxu-Delivery": message.event_id,
        "X-Gongxu-Timestamp": str(timestamp),
        "X-Gongxu-Signature": sign(secret, timestamp, body),
        **extra_headers,
    })
