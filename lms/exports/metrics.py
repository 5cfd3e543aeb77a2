"""Export jobs at scrape time (lms/core/metrics.py): how many are in each state, and how long the
oldest one still waiting or running has been at it."""

from sqlalchemy import func, select

from ..core import metrics
from ..core.clock import utcnow_naive
from ..extensions import db
from .models import ExportJob, ExportStatus


@metrics.scrape_source("exports")
def export_jobs():
    rows = db.session.execute(select(ExportJob.status, func.count(), func.min(ExportJob.created_at))
                              .group_by(ExportJob.status)).all()
    counts = {(status,): 0 for status in (ExportStatus.QUEUED, ExportStatus.RUNNING, ExportStatus.DONE,
                                          ExportStatus.FAILED, ExportStatus.EXPIRED)}
    counts.update({(status,): count for status, count, _oldest in rows})
    now = utcnow_naive()
    unfinished = [oldest for status, _count, oldest in rows
                  if status in (ExportStatus.QUEUED, ExportStatus.RUNNING) and oldest is not None]
    age = max(((now - oldest).total_seconds() for oldest in unfinished), default=0.0)
    return [metrics.gauge("lms_export_jobs", "Export jobs by status", counts, ["status"]),
            metrics.gauge("lms_export_oldest_unfinished_age_seconds", "Age of the oldest export job queued or "
                          "running (0 when none)", max(0.0, age))]
