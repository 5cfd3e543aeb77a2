"""Outbox jobs: one delivery run queued after each commit that added messages, and a sweep each minute.

The job is queued from the session's ``after_commit`` event, so a transaction that rolls back
queues nothing. The sweep (a huey periodic task, run by ``flask jobs worker``) delivers whatever is
due — messages whose job was lost, retries whose backoff has passed — so no message depends on its
job. In immediate mode (tests) nothing is queued: a delivery inside the commit hook could not use
the session that is committing; tests deliver with :func:`lms.outbox.delivery.deliver_due`.
"""

import logging

from huey import crontab
from sqlalchemy import event
from sqlalchemy.orm import Session

from ..core.jobs import app_periodic_task, app_task, huey
from .delivery import SESSION_FLAG, deliver_due

log = logging.getLogger(__name__)


@app_task()
def deliver_outbox_job() -> int:
    report = deliver_due()
    return report.delivered


@app_periodic_task(crontab(minute="*"), name="lms.outbox.tasks.sweep_outbox")
def sweep_outbox() -> int:
    """Every minute: deliver due messages (lost jobs, retries after their backoff)."""
    report = deliver_due()
    if report.delivered or report.failed:
        log.info("outbox sweep: %s delivered, %s retrying, %s failed", report.delivered, report.retrying,
                 report.failed)
    return report.delivered


def _after_commit(session: Session) -> None:
    if not session.info.pop(SESSION_FLAG, False):
        return
    if huey.immediate:
        return
    try:
        deliver_outbox_job()
    except Exception:  # the commit stands; the sweep delivers the messages within a minute
        log.exception("could not queue the outbox delivery job")


def _after_soft_rollback(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the outermost transaction was rolled back
        session.info.pop(SESSION_FLAG, None)


def connect() -> None:
    """The session hooks that queue a delivery run after a commit that added messages (idempotent).
    The kinds of message connect their own signal handlers."""
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_soft_rollback)
