"""Transcoding jobs. The job is an edge: it commits its own progress so the publisher sees it live."""

import logging
import time

from huey import crontab

from ..core.clock import utcnow_naive
from ..core.database import commit_apart, writing
from ..core.jobs import app_periodic_task, app_task
from ..extensions import db
from . import services, uploads
from .models import MediaAsset, MediaStatus

log = logging.getLogger(__name__)


@app_task(queue="media")
def transcode_job(asset_id: int) -> str:
    with writing():  # reads, then marks the asset: one short transaction holding SQLite's write lock
        asset = db.session.get(MediaAsset, asset_id)
        if asset is None:
            return "missing"
        if asset.status == MediaStatus.READY or (asset.status == MediaStatus.PROCESSING
                                                 and not services.is_stalled(asset)):
            db.session.commit()
            return asset.status  # queued twice, or already done: nothing to do
        asset.status, asset.progress, asset.error = MediaStatus.PROCESSING, 0, None
        asset.updated_at = utcnow_naive()
        db.session.commit()
    last_commit = time.monotonic()

    def report(fraction: float) -> None:
        nonlocal last_commit
        percent = min(99, int(fraction * 100))  # 100 only once everything is in place
        now = time.monotonic()
        if percent != asset.progress or now - last_commit > 5:

            def change() -> None:
                asset.progress = percent
                asset.updated_at = utcnow_naive()  # also the sign of life that stall detection reads

            commit_apart(change)
            last_commit = now

    try:
        services.transcode_asset(asset, report=report)
    except services.TranscodeError as exc:
        db.session.rollback()
        asset = db.session.get(MediaAsset, asset_id)
        asset.status, asset.error = MediaStatus.FAILED, str(exc)[-2000:]
        db.session.commit()
        log.warning("transcoding media asset %s failed: %s", asset_id, exc)
        return "failed"
    asset.status, asset.progress = MediaStatus.READY, 100
    db.session.commit()
    return "ready"


@app_periodic_task(crontab(minute="17"), queue="media", name="lms.media.tasks.sweep_uploads")
def sweep_uploads() -> int:
    """Every hour: uploads idle past LMS_UPLOAD_TTL_HOURS go, with their parts."""
    with writing():
        swept = uploads.sweep_expired_uploads()
        db.session.commit()
    if swept:
        log.info("swept %s expired uploads", swept)
    return swept
