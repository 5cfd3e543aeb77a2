"""Delivering the outbox: claim due messages, send them over HTTP, record the outcome.

How a message travels:

1. A signal handler (webhooks: :mod:`lms.api.webhooks`; statements: :mod:`lms.xapi.services`) calls
   :func:`add_message` inside the transaction that makes the change. Nothing is sent there.
2. When that transaction commits, :mod:`lms.outbox.tasks` queues one delivery job; a rolled-back
   transaction queues nothing (and its messages never existed). A periodic sweep (every minute)
   and ``flask outbox deliver`` deliver whatever is due, so a lost job or a receiver that was down
   only delays a message.
3. :func:`deliver_due` claims one due message at a time with an ``UPDATE … RETURNING`` that moves
   its ``next_attempt_at`` forward by a lease and counts the attempt (PostgreSQL also skips rows
   another worker has locked), sends it, records the outcome, and claims the next: a lease covers
   exactly one send, so a slow receiver cannot make it run out while the message waits its turn.
   Several workers never send the same message at once; a worker that dies mid-send leaves the
   message due again when its lease ends. The claim is committed before anything is sent: no
   database transaction is held open during HTTP.
4. Webhook messages of one subscription go out in order: a message waits while an earlier one of
   the same subscription is pending (in backoff or in flight) or ``failed`` (until ``flask outbox
   retry`` puts it back). Statements have no order.
5. The request is built when it is sent, by the function its channel registered with
   :func:`sender` (:func:`build_request` looks it up; the dispatcher names no sender): a webhook body is read from the
   database as it is then, so the outbox row itself holds no personal data. A message that can
   never be sent (its subscription deleted, its client revoked, its record no longer in the
   client's scope) is marked ``undeliverable`` and holds nothing back.

Outcomes: 2xx is delivered (an LRS's 409 for a statement id it already holds too). Timeouts,
connection errors, 5xx, 429 and every other 4xx are retried: a 4xx usually means the receiver is
misconfigured (wrong URL, auth, a rejecting proxy), which someone can fix, so the message is kept
and the status and response are recorded in ``last_status``/``last_error`` for ``flask outbox
status``. Retries back off exponentially (``LMS_OUTBOX_BACKOFF_SECONDS`` × 2^(n-1), between half
and all of it at random, capped at 6 hours). After ``LMS_OUTBOX_MAX_ATTEMPTS`` attempts (24 by
default: about three days of retries) the message is ``failed`` and kept; ``flask outbox retry``
puts it back.
"""

import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import httpx
from flask import current_app
from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.orm import aliased

from ..core.audit import record_event
from ..core.clock import utcnow_naive
from ..extensions import db
from .models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

BACKOFF_CAP_SECONDS = 6 * 3600
SESSION_FLAG = "outbox_added"  # Session.info key: messages were added in this transaction
_ERROR_LIMIT = 2000
# An earlier message of the same subscription in one of these holds a webhook message back.
BLOCKING = (OutboxStatus.PENDING, OutboxStatus.FAILED)


class Undeliverable(Exception):
    """The message can never be sent (its subscription was deleted, its client revoked, its record
    left the client's scope): marked ``undeliverable``, never retried by itself."""


class NotReady(Exception):
    """The message cannot be sent yet (no LRS configured, the receiver's address is refused):
    counted as a failed attempt and retried with backoff."""


@dataclass
class OutgoingRequest:
    url: str
    body: bytes
    headers: dict[str, str]
    auth: tuple[str, str] | None = None
    # Statuses besides 2xx that mean "the receiver has it" (an LRS answers 409 for a known id).
    also_delivered: frozenset[int] = frozenset()
    # httpx request extensions, e.g. {"sni_hostname": name} when the URL holds the checked IP address.
    extensions: dict = field(default_factory=dict)
    # An audit event (action, detail) written with the outcome, in the transaction that records it.
    audit: tuple[str, dict] | None = None
    # Whether a refusal's response body is kept in ``last_error`` (and logged): not when the
    # receiver might echo a secret of the request (an SMS gateway echoing the text with its code).
    quote_response: bool = True


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    ids: list[int] = field(default_factory=list)

    def add(self, other: "DeliveryReport") -> None:
        self.delivered += other.delivered
        self.retrying += other.retrying
        self.failed += other.failed
        self.ids += other.ids


# ---------------------------------------------------------------- writing (inside the change's transaction)

def add_message(*, channel: str, event_type: str, event_id: str, payload: dict | str,
                subscription_id: int | None = None) -> OutboxMessage:
    """Add a message to the outbox in the current transaction; it is sent after the commit."""
    body = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    message = OutboxMessage(channel=channel, event_type=event_type, event_id=event_id, payload=body,
                            subscription_id=subscription_id, status=OutboxStatus.PENDING, attempts=0,
                            next_attempt_at=utcnow_naive(), created_at=utcnow_naive())
    db.session.add(message)
    db.session.info[SESSION_FLAG] = True
    return message


# ---------------------------------------------------------------- claiming

def _config(name: str):
    return current_app.config[name]


def lease_seconds() -> float:
    """How long a claimed message is left alone: longer than any send can take."""
    return 2 * float(_config("LMS_OUTBOX_TIMEOUT_SECONDS")) + 30


def claim_due(limit: int = 1, *, now: datetime | None = None) -> list[int]:
    """Claim up to ``limit`` due messages for this worker (committed); returns their ids in order.

    A webhook message is not due while an earlier message of its subscription is pending or failed
    (statements have no subscription, and no order)."""
    now = now or utcnow_naive()
    earlier = aliased(OutboxMessage)
    due = (select(OutboxMessage.id)
           .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now,
                  ~exists().where(earlier.subscription_id == OutboxMessage.subscription_id,
                                  earlier.status.in_(BLOCKING), earlier.id < OutboxMessage.id))
           .order_by(OutboxMessage.id).limit(limit)
           .with_for_update(skip_locked=True, of=OutboxMessage)
           # Evaluated once: PostgreSQL may otherwise rescan a plain IN (subquery) for each row of the
           # UPDATE, each rescan locking the next row, and so claim every due message, not ``limit``.
           .cte("due").prefix_with("MATERIALIZED", dialect="postgresql"))
    # The conditions are repeated outside the subquery: on PostgreSQL a row another worker claimed
    # meanwhile is re-checked after its lock is released, and no longer matches.
    claim = (update(OutboxMessage)
             .where(OutboxMessage.id.in_(select(due.c.id)), OutboxMessage.status == OutboxStatus.PENDING,
                    OutboxMessage.next_attempt_at <= now)
             .values(next_attempt_at=now + timedelta(seconds=lease_seconds()),
                     attempts=OutboxMessage.attempts + 1)
             .returning(OutboxMessage.id)
             .execution_options(synchronize_session=False))
    ids = sorted(db.session.scalars(claim))
    db.session.commit()
    return ids


# ---------------------------------------------------------------- sending

def backoff_seconds(attempts: int) -> float:
    """Delay before the next try after ``attempts`` failed tries: exponential, half to full, capped."""
    base = float(_config("LMS_OUTBOX_BACKOFF_SECONDS"))
    full = min(BACKOFF_CAP_SECONDS, base * 2 ** max(0, attempts - 1))
    return full * random.uniform(0.5, 1.0)


class Transport(Protocol):
    """What a sender may build besides an HTTP request (an e-mail over SMTP, a line on the console):
    it sends itself and says how it went, as :func:`send` does for HTTP."""

    audit: tuple[str, dict] | None

    def send(self) -> tuple[bool, int | None, str | None]: ...


# channel → the function that builds a message's request when it is sent
_senders: dict[str, Callable[[OutboxMessage], "OutgoingRequest | Transport"]] = {}
# Channels whose payload holds a secret (a one-time code): erased once the message is delivered,
# undeliverable or failed, so the secret does not outlive its use in the database.
_private: set[str] = set()


def sender(channel: str, *, private: bool = False):
    """Register the request builder of a kind of message (``@sender("webhook")``). It raises
    :class:`Undeliverable` or :class:`NotReady` when the message cannot be sent (now). ``private``:
    the payload is erased when the message leaves the ``pending`` state."""

    def register(build: Callable[[OutboxMessage], "OutgoingRequest | Transport"]):
        if _senders.get(channel, build) is not build:
            raise ValueError(f"outbox channel {channel!r} has a sender already")
        _senders[channel] = build
        if private:
            _private.add(channel)
        return build

    return register


def channels() -> list[str]:
    """The channels that registered a sender."""
    return sorted(_senders)


def build_request(message: OutboxMessage) -> "OutgoingRequest | Transport":
    build = _senders.get(message.channel)
    if build is None:
        raise Undeliverable(f"unknown channel {message.channel!r}")
    return build(message)


def send(request: "OutgoingRequest | Transport") -> tuple[bool, int | None, str | None]:
    """POST the request (or let another transport send itself); (delivered, HTTP status or None,
    error text or None)."""
    if not isinstance(request, OutgoingRequest):
        return request.send()
    timeout = float(_config("LMS_OUTBOX_TIMEOUT_SECONDS"))
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            response = client.post(request.url, content=request.body, headers=request.headers, auth=request.auth,
                                   extensions=request.extensions or None)
    except httpx.TimeoutException as exc:
        return False, None, f"timeout after {timeout:g} s: {exc.__class__.__name__}"
    except httpx.HTTPError as exc:
        return False, None, f"{exc.__class__.__name__}: {exc}"
    status = response.status_code
    if 200 <= status < 300 or status in request.also_delivered:
        return True, status, None
    text = response.text[:500] if request.quote_response else "(response body not kept)"
    if 400 <= status < 500 and status != 429:
        return False, status, f"HTTP {status} (the receiver refused the request; check its URL and settings): {text}"
    return False, status, f"HTTP {status}: {text}"


def deliver_message(message_id: int) -> str:
    """Send one claimed message and record the outcome (committed). Returns its new status.

    Three transactions: reading the message and building the request (committed before the send:
    no transaction stays open during HTTP), the send, then one that starts with the outcome's
    UPDATE (on SQLite a transaction that reads and later writes fails if another writer committed
    in between) and carries the request's audit event."""
    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.status != OutboxStatus.PENDING:
        db.session.commit()
        return message.status if message is not None else "missing"
    attempts, channel = message.attempts, message.channel
    request, undeliverable = None, False
    try:
        request = build_request(message)
    except Undeliverable as exc:
        undeliverable, ok, status, error = True, False, None, str(exc)
    except NotReady as exc:
        ok, status, error = False, None, str(exc)
    db.session.commit()

    if request is not None:
        ok, status, error = send(request)

    now = utcnow_naive()
    values = {"last_status": status, "last_error": error[:_ERROR_LIMIT] if error else None}
    if ok:
        values.update(status=OutboxStatus.DELIVERED, delivered_at=now)
    elif undeliverable:
        values.update(status=OutboxStatus.UNDELIVERABLE)
    elif attempts >= int(_config("LMS_OUTBOX_MAX_ATTEMPTS")):
        values.update(status=OutboxStatus.FAILED)
    else:
        values.update(next_attempt_at=now + timedelta(seconds=backoff_seconds(attempts)))
    if channel in _private and "status" in values:
        values["payload"] = ""
    # Only while still ours: a message an operator changed meanwhile is left as they set it.
    db.session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id,
                                                   OutboxMessage.status == OutboxStatus.PENDING,
                                                   OutboxMessage.attempts == attempts)
                       .values(**values).execution_options(synchronize_session=False))
    if request is not None and request.audit is not None:  # the body left, whatever the answer
        action, detail = request.audit
        record_event(None, action, None, http_status=status, delivered=ok, **detail)
    db.session.commit()
    if undeliverable:
        log.warning("outbox message %s cannot be delivered: %s", message_id, error)
    elif not ok:
        log.info("outbox message %s attempt %s failed: %s", message_id, attempts, error)
    return values.get("status", OutboxStatus.PENDING)


def deliver_due(*, limit: int = 500) -> DeliveryReport:
    """Deliver due messages one at a time (claim one, send it, record it) until none is left or
    ``limit`` were tried. Failed and undeliverable ones are both counted in ``failed``."""
    report = DeliveryReport()
    while len(report.ids) < limit:
        ids = claim_due(1)
        if not ids:
            break
        [message_id] = ids
        outcome = deliver_message(message_id)
        report.ids.append(message_id)
        if outcome == OutboxStatus.DELIVERED:
            report.delivered += 1
        elif outcome in (OutboxStatus.FAILED, OutboxStatus.UNDELIVERABLE):
            report.failed += 1
        else:
            report.retrying += 1
    return report


# ---------------------------------------------------------------- operating

def retry(message_ids: list[int] | None = None, *, all_failed: bool = False) -> int:
    """Make messages due now: the given ones (pending or failed), or every failed one. Flushes."""
    query = update(OutboxMessage).where(OutboxMessage.status != OutboxStatus.DELIVERED)
    if all_failed:
        query = query.where(OutboxMessage.status == OutboxStatus.FAILED)
    elif message_ids:
        query = query.where(OutboxMessage.id.in_(message_ids))
    else:
        return 0
    result = db.session.execute(query.values(status=OutboxStatus.PENDING, attempts=0,
                                             next_attempt_at=utcnow_naive())
                                .execution_options(synchronize_session=False))
    db.session.flush()
    if result.rowcount:
        db.session.info[SESSION_FLAG] = True  # the commit queues a delivery run
    return result.rowcount


@dataclass
class StatusLine:
    channel: str
    status: str
    count: int
    oldest: datetime | None


def status_summary() -> list[StatusLine]:
    rows = db.session.execute(select(OutboxMessage.channel, OutboxMessage.status, func.count(),
                                     func.min(OutboxMessage.created_at))
                              .group_by(OutboxMessage.channel, OutboxMessage.status)
                              .order_by(OutboxMessage.channel, OutboxMessage.status))
    return [StatusLine(*row) for row in rows]


def problem_messages(limit: int = 20) -> list[OutboxMessage]:
    """Failed and undeliverable messages and pending ones that have failed at least once, oldest first."""
    return list(db.session.scalars(
        select(OutboxMessage).where(and_(OutboxMessage.status != OutboxStatus.DELIVERED,
                                         OutboxMessage.last_error.is_not(None)))
        .order_by(OutboxMessage.id).limit(limit)))
