"""Transcoding jobs. The job is an edge: it commits its own progress so the publisher sees it live."""

import logging
import time

from huey import crontab
from sqlalchemy import update

from ..core.clock import utcnow_naive
from ..core.database import commit_apart, writing
from ..core.jobs import app_periodic_task, app_task, pending_args
from ..core.storage import media_storage
from ..extensions import db
from . import services, uploads
from .models import MediaAsset, MediaStatus

log = logging.getLogger(__name__)


@app_task(queue="media")
def transcode_job(asset_id: int) -> str:
    """One attempt at an asset's transcode. It owns the asset while it is the latest attempt: its
    progress reports are its sign of life, and when the stall sweep has retried it (its worker
    looked dead) or a publisher restarted it, the next report stops it and it publishes nothing."""
    with writing():  # claims the asset in one short transaction holding SQLite's write lock
        asset = services.claim_transcode(asset_id)
        db.session.commit()
    if asset is None:
        current = db.session.get(MediaAsset, asset_id)
        db.session.commit()
        return current.status if current is not None else "missing"  # queued twice, or done already
    attempt, base = asset.transcode_attempt, services.rendition_base(asset)
    storage = media_storage()
    last_commit, last_percent = time.monotonic(), 0

    def report(fraction: float) -> None:
        nonlocal last_commit, last_percent
        percent = min(99, int(fraction * 100))  # 100 only once everything is in place
        now = time.monotonic()
        if percent != last_percent or now - last_commit > 5:
            commit_apart(lambda: services.report_progress(asset_id, attempt, percent))
            last_commit, last_percent = now, percent

    try:
        services.transcode_asset(asset, report=report)
    except services.Superseded:
        db.session.rollback()
        storage.delete(base)  # stored already if it was stopped by its last report: nothing names it
        log.warning("media asset %s: transcode attempt %s was superseded and stopped", asset_id, attempt)
        return "superseded"
    except services.TranscodeError as exc:
        db.session.rollback()
        with writing():
            failed = db.session.execute(
                update(MediaAsset).where(MediaAsset.id == asset_id, MediaAsset.transcode_attempt == attempt,
                                         MediaAsset.status == MediaStatus.PROCESSING)
                .values(status=MediaStatus.FAILED, error=str(exc)[-2000:], updated_at=utcnow_naive())
                .execution_options(synchronize_session=False)).rowcount
            db.session.commit()
        log.warning("transcoding media asset %s failed: %s", asset_id, exc)
        return "failed" if failed else "superseded"
    paths = {"mp4": asset.mp4_path, "hls": asset.hls_path, "poster": asset.poster_path}
    db.session.rollback()  # the paths are published under the row's lock, not flushed from memory
    with writing():
        published = services.publish_transcode(asset_id, attempt, paths)
        db.session.commit()
    if not published:  # stored under this attempt's own folder, which nothing names: gone
        storage.delete(base)
        log.warning("media asset %s: transcode attempt %s finished after it was superseded", asset_id, attempt)
        return "superseded"
    asset = db.session.get(MediaAsset, asset_id)
    services.discard_old_renditions(asset)
    db.session.commit()
    log.info("media asset %s: transcode attempt %s published", asset_id, attempt)
    return "ready"


@app_periodic_task(crontab(minute="*"), queue="media", name="lms.media.tasks.sweep_stalled_transcodes")
def sweep_stalled_transcodes() -> int:
    """Every minute, on every media worker: transcodes whose worker stopped reporting are retried
    (by whichever worker takes the job: not the dead one), once per stall however many sweep; and
    videos waiting for a transcode with no job in the queue (it was down at the upload, or the job
    was lost) get one."""
    due = services.any_transcode_to_sweep(set())
    if due:  # the queue is read only when some video is stalled or waits
        queued = pending_args(transcode_job)
        due = services.any_transcode_to_sweep(queued)
    db.session.rollback()  # ends the read; the claims below are a write transaction of their own
    if not due:
        return 0
    with writing():
        retried = services.sweep_stalled_transcodes() + services.sweep_waiting_transcodes(queued)
        db.session.commit()
    for asset_id in retried:  # after the commit: the job finds the asset waiting for it
        transcode_job(asset_id)
    return len(retried)


@app_periodic_task(crontab(minute="17"), queue="media", name="lms.media.tasks.sweep_uploads")
def sweep_uploads() -> int:
    """Every hour: uploads idle past LMS_UPLOAD_TTL_HOURS go, with their parts."""
    with writing():
        swept = uploads.sweep_expired_uploads()
        db.session.commit()
    if swept:
        log.info("swept %s expired uploads", swept)
    return swept
