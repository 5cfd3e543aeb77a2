"""Certificate jobs: a course certificate is rendered and signed after the completion's ledger
transaction commits, so completions never queue behind the ledger's lock while a PDF is drawn.

A completion names its ledger entry in the session (``services.PENDING_AFTER_COMMIT``); after the
commit one job per entry is queued; a transaction that rolls back queues nothing. The job is
idempotent (``services.issue_for_record``). Each minute a sweep issues what a lost job left
undone: standing online-course entries older than ``SWEEP_AFTER`` (and younger than
``SWEEP_WINDOW``) with no certificate; each night, and on ``flask certificates sweep --all``, the
whole ledger. Meanwhile
the learner's 我的证书 page says the certificate is being issued. In immediate mode (tests) the
certificate is issued at once, inside the completing transaction.
"""

import logging
from datetime import timedelta

from huey import crontab
from sqlalchemy import event
from sqlalchemy.orm import Session

from ..core.clock import utcnow_naive
from ..core.database import writing
from ..core.jobs import app_periodic_task, app_task
from ..extensions import db
from . import services

log = logging.getLogger(__name__)

SWEEP_AFTER = timedelta(minutes=1)  # the queued job's time to run before the sweep steps in
SWEEP_WINDOW = timedelta(days=2)  # how far back the minute's sweep looks (ix_credit_record_created)
SWEEP_BATCH = 200


@app_task(retries=3, retry_delay=10)
def issue_certificate_job(record_id: int) -> str | None:
    with writing():  # reads, then writes the certificate: one transaction holding SQLite's write lock
        cert = services.issue_for_record(record_id)
        number = cert.number if cert is not None else None
        db.session.commit()
    return number


def sweep(*, whole_ledger: bool = False, progress=None) -> int:
    """Issue the certificates whose job was lost: entries completed more than ``SWEEP_AFTER`` ago,
    within ``SWEEP_WINDOW`` (an index range, so the minute's sweep costs the same whatever the
    ledger's size) or, with ``whole_ledger``, all of them, in batches of ``SWEEP_BATCH``.
    ``progress(issued, seen)`` is called after each batch. Returns how many were issued."""
    now = utcnow_naive()
    since = None if whole_ledger else now - SWEEP_WINDOW
    issued = seen = last_id = 0
    while True:
        batch = [record.id for record in services.pending_course_records(
            completed_before=now - SWEEP_AFTER, completed_since=since, after_id=last_id,
            limit=SWEEP_BATCH)]
        db.session.rollback()  # ends the read: each issue below is a write transaction of its own
        for record_id in batch:
            try:
                issued += issue_certificate_job.call_local(record_id) is not None
            except Exception:  # one entry's failure does not stop the others; the next sweep tries again
                db.session.rollback()
                log.exception("the sweep could not issue the certificate of ledger entry %s", record_id)
        seen += len(batch)
        if progress is not None:
            progress(issued, seen)
        if len(batch) < SWEEP_BATCH or not whole_ledger:
            break
        last_id = batch[-1]
    if issued:
        log.info("certificate sweep: %s issued", issued)
    return issued


@app_periodic_task(crontab(minute="*"), name="lms.certificates.tasks.sweep_certificates")
def sweep_certificates() -> int:
    """Every minute: the recent certificates whose job was lost (its worker died, the queue was down)."""
    return sweep()


@app_periodic_task(crontab(minute="40", hour="3"), name="lms.certificates.tasks.sweep_all_certificates")
def sweep_all_certificates() -> int:
    """Each night: the whole ledger, for a queue that was down longer than the minute's window."""
    return sweep(whole_ledger=True)


def _after_commit(session: Session) -> None:
    for record_id in sorted(session.info.pop(services.PENDING_AFTER_COMMIT, ())):
        try:
            issue_certificate_job(record_id)
        except Exception:  # the completion stands; the sweep issues its certificate within minutes
            log.exception("could not queue the certificate of ledger entry %s", record_id)


def _after_soft_rollback(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the outermost transaction was rolled back
        session.info.pop(services.PENDING_AFTER_COMMIT, None)


def connect() -> None:
    """The session hooks that queue a certificate after the commit of a completion (idempotent)."""
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_soft_rollback)
