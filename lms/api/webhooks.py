"""Webhook events: ``credit_record.created`` and ``credit_record.voided``, signed, through the outbox.

When a ledger entry is written, every active subscription (not deleted, its API client not revoked)
that asked for the event and whose client's scope covers the entry gets one outbox message, in the
same transaction. The scope is checked with the one scoped record query
(:func:`lms.exports.records.record_query`): an entry the client could not read through the API
never leaves in a webhook.

Each delivery is a ``POST`` of a JSON body (UTF-8)::

    {"id": "<event uuid>", "type": "credit_record.created" | "credit_record.voided",
     "created_at": "2026-03-10T02:00:00Z", "data": {<the entry, as GET /api/v1/records returns it>},
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
previous one was delivered (or given up as failed).
"""

import hashlib
import hmac
import time
import uuid
from datetime import UTC

from sqlalchemy import select

from ..accounts import crypto
from ..core import signals
from ..core.clock import now
from ..core.outbox_delivery import WEBHOOK, OutgoingRequest, Undeliverable, add_message
from ..credits.models import CreditRecord
from ..extensions import db
from .models import ApiClient, WebhookSubscription

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

def active_subscriptions(event_type: str) -> list[WebhookSubscription]:
    subs = db.session.scalars(
        select(WebhookSubscription).join(ApiClient, ApiClient.id == WebhookSubscription.api_client_id)
        .where(WebhookSubscription.deleted_at.is_(None), ApiClient.revoked_at.is_(None))
        .order_by(WebhookSubscription.id))
    return [s for s in subs if event_type in s.event_list]


def _row_in_scope(client: ApiClient, record_id: int):
    """The entry as the client may read it, or None when it is outside the client's scope."""
    from ..core.errors import NotAllowed
    from ..exports import records

    try:
        scope = records.scope_of_client(client)
    except NotAllowed:  # a client without a scope sees nothing
        return None
    return db.session.execute(records.record_query(scope, active_only=False)
                              .where(CreditRecord.id == record_id)).first()


def _iso_now() -> str:
    return now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def enqueue_event(event_type: str, record: CreditRecord, *, voided_by: CreditRecord | None = None) -> int:
    """One outbox message per subscription that may see ``record``; returns how many."""
    from ..exports import records

    subs = active_subscriptions(event_type)
    if not subs:
        return 0
    db.session.flush()
    added = 0
    for sub in subs:
        client = sub.client
        row = _row_in_scope(client, record.id)
        if row is None:
            continue
        event_id = str(uuid.uuid4())
        body = {"id": event_id, "type": event_type, "created_at": _iso_now(),
                "data": records.record_json(row, full_id_numbers=client.full_id_numbers)}
        if voided_by is not None:
            by_row = _row_in_scope(client, voided_by.id)
            body["voided_by"] = (records.record_json(by_row, full_id_numbers=client.full_id_numbers)
                                 if by_row is not None else None)
        add_message(channel=WEBHOOK, event_type=event_type, event_id=event_id, payload=body,
                    subscription_id=sub.id)
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

def build_request(message) -> OutgoingRequest:
    """The signed POST for one webhook message, timestamped now."""
    sub = db.session.get(WebhookSubscription, message.subscription_id) if message.subscription_id else None
    if sub is None or sub.deleted_at is not None:
        raise Undeliverable("订阅已删除，事件不再发送。")
    if sub.client is None or sub.client.revoked_at is not None:
        raise Undeliverable("接口凭证已吊销，事件不再发送。")
    body = message.payload.encode("utf-8")
    timestamp = int(now().timestamp())
    secret = crypto.decrypt(sub.secret_encrypted)
    return OutgoingRequest(url=sub.url, body=body, headers={
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Gongxu-LMS-Webhook/1",
        "X-Gongxu-Event": message.event_type,
        "X-Gongxu-Delivery": message.event_id,
        "X-Gongxu-Timestamp": str(timestamp),
        "X-Gongxu-Signature": sign(secret, timestamp, body),
    })
