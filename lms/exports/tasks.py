"""The export job, on the ``media`` queue (the queue for long work). The job is an edge: it commits
its own progress so the requester's progress page sees it live."""

import logging
from datetime import timedelta

from huey import crontab

from ..core import replica
from ..core.clock import utcnow_naive
from ..core.database import writing
from ..core.jobs import app_periodic_task, app_task, pending_args
from ..extensions import db
from . import services
from .models import ExportJob

log = logging.getLogger(__name__)

REQUEUE_AFTER = timedelta(minutes=2)  # a queued export's job time to be picked up before the sweep steps in


@app_task(queue="media")
def export_job(job_id: int) -> str:
    job = db.session.get(ExportJob, job_id)
    if job is None:
        return "missing"
    with replica.reads():  # the rows from the read replica, when there is one
        job = services.run_export_job(job, commit=db.session.commit)
    if job.error:
        log.warning("export job %s failed: %s", job_id, job.error)
    else:
        log.info("export job %s %s: %s rows", job_id, job.status, job.rows_done)
    return job.status


@app_periodic_task(crontab(minute="*"), name="lms.exports.tasks.requeue_waiting_exports")
def requeue_waiting_exports() -> int:
    """Every minute: exports asked for more than ``REQUEUE_AFTER`` ago that have no job in the queue
    (it was down when they were asked for, or lost the job) are queued again; running ones whose
    worker died (no progress for LMS_EXPORT_STALL_MINUTES) are failed with a message."""
    failed = []
    if services.any_stalled_job():
        db.session.rollback()  # ends the read; the write below begins with the lock
        with writing():
            failed = services.fail_stalled_jobs()
            db.session.commit()
    for job_id in failed:
        log.warning("export job %s stopped making progress (its worker died): failed", job_id)
    waiting = services.waiting_jobs(before=utcnow_naive() - REQUEUE_AFTER)
    db.session.rollback()
    if waiting:  # the queue is read only when some export waits
        queued = pending_args(export_job)
        waiting = [job_id for job_id in waiting if job_id not in queued]
    for job_id in waiting:
        log.warning("export job %s was waiting with no job in the queue: queued again", job_id)
        export_job(job_id)
    return len(waiting)


@app_periodic_task(crontab(minute="17"), name="lms.exports.tasks.purge_expired_exports")
def purge_expired_exports() -> int:
    """Hourly: delete export files whose download links have expired (as ``flask export purge``)."""
    removed = services.purge_expired()
    db.session.commit()
    if removed:
        log.info("export purge: %s expired files removed", removed)
    return removed
