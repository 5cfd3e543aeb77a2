"""Certificate jobs: a course certificate is rendered and signed after the completion's ledger
transaction commits, so completions never queue behind the ledger's lock while a PDF is drawn.

A completion names its ledger entry in the session (``services.PENDING_AFTER_COMMIT``); after the
commit one job per entry is queued; a transaction that rolls back queues nothing. The job is
idempotent (``services.issue_for_record``). Each minute a sweep issues what a lost job left
undone: standing online-course entries older than ``SWEEP_AFTER`` with no certificate. Meanwhile
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
SWEEP_BATCH = 200


@app_task(retries=3, retry_delay=10)
def issue_certificate_job(record_id: int) -> str | None:
    with writing():  # reads, then writes the certificate: one transaction holding SQLite's write lock
        cert = services.issue_for_record(record_id)
        number = cert.number if cert is not None else None
        db.session.commit()
    return number


@app_periodic_task(crontab(minute="*"), name="lms.certificates.tasks.sweep_certificates")
def sweep_certificates() -> int:
    """Every minute: the certificates whose job was lost (its worker died, the queue was down)."""
    records = [record.id for record in services.pending_course_records(
        completed_before=utcnow_naive() - SWEEP_AFTER, limit=SWEEP_BATCH)]
    db.session.rollback()
    issued = 0
    for record_id in records:
        try:
            issued += issue_certificate_job.call_local(record_id) is not None
        except Exception:  # one entry's failure does not stop the others; the next sweep tries again
            db.session.rollback()
            log.exception("the sweep could not issue the certificate of ledger entry %s", record_id)
    if issued:
        log.info("certificate sweep: %s issued", issued)
    return issued


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
