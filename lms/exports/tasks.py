"""The export job, on the ``media`` queue (the queue for long work). The job is an edge: it commits
its own progress so the requester's progress page sees it live."""

import logging

from huey import crontab

from ..core import replica
from ..core.jobs import app_periodic_task, app_task
from ..extensions import db
from . import services
from .models import ExportJob

log = logging.getLogger(__name__)


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


@app_periodic_task(crontab(minute="17"), name="lms.exports.tasks.purge_expired_exports")
def purge_expired_exports() -> int:
    """Hourly: delete export files whose download links have expired (as ``flask export purge``)."""
    removed = services.purge_expired()
    db.session.commit()
    if removed:
        log.info("export purge: %s expired files removed", removed)
    return removed
