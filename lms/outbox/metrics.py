"""The outbox at scrape time (lms/core/metrics.py): messages waiting or given up, by channel, and
how long the oldest waiting one has waited, which is what an alert watches."""

from sqlalchemy import func, select

from ..core import metrics
from ..core.clock import utcnow_naive
from ..extensions import db
from .models import OutboxMessage, OutboxStatus

_NOT_DONE = (OutboxStatus.PENDING, OutboxStatus.FAILED, OutboxStatus.UNDELIVERABLE)


@metrics.scrape_source("outbox")
def outbox_backlog():
    rows = db.session.execute(
        select(OutboxMessage.channel, OutboxMessage.status, func.count(), func.min(OutboxMessage.created_at))
        .where(OutboxMessage.status.in_(_NOT_DONE))
        .group_by(OutboxMessage.channel, OutboxMessage.status)).all()
    counts = {(channel, status): count for channel, status, count, _oldest in rows}
    now = utcnow_naive()
    oldest = {}
    for channel, status, _count, created in rows:
        if status == OutboxStatus.PENDING and created is not None:
            oldest[(channel,)] = max(0.0, (now - created).total_seconds())
    return [
        metrics.gauge("lms_outbox_messages", "Outgoing messages not delivered, by channel and status "
                      "(pending: still tried; failed, undeliverable: given up)", counts, ["channel", "status"]),
        metrics.gauge("lms_outbox_oldest_pending_age_seconds", "Age of the oldest message still waiting to be "
                      "delivered, by channel", oldest, ["channel"]),
    ]
