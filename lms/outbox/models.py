"""The outbox: messages to other systems (webhooks, xAPI statements), written in the same
transaction as the change they describe and delivered afterwards, with retries and backoff.

A message is never lost: it stays ``pending`` until a delivery succeeds, and is marked ``failed``
(still kept, retried by hand) only after ``LMS_OUTBOX_MAX_ATTEMPTS`` attempts (24 by default, about
three days); a failed webhook message holds back the later ones of its subscription until then.
A message that can never be sent (its subscription deleted, its client revoked, its record out of
the client's scope) is ``undeliverable``, kept with the reason.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..core.clock import utcnow_naive
from ..extensions import db


class OutboxStatus:
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last attempt; kept for a manual retry
    UNDELIVERABLE = "undeliverable"  # can never be sent as it is; kept with the reason


class OutboxMessage(db.Model):
    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # the sender that builds its request: "webhook", "xapi"
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_subscription.id", ondelete="SET NULL"), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    # Stable across retries: the webhook event id, or the xAPI statement id (the LRS drops duplicates).
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    # xAPI: the exact statement sent. Webhooks: only the event's ids and time (no personal data);
    # the body is built from the database when it is sent.
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    delivered_at: Mapped[datetime | None]
