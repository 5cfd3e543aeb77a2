"""Transcoding through real ``huey_consumer`` processes, on the SQLite queue and on Redis.

Each test has its own committed database and queue, so the consumer (another process) sees what
the test wrote. The session app's queue settings are restored afterwards.
"""

import signal
import time
from datetime import timedelta

import pytest

from tests.clips import make_lecture
from tests.queue_helpers import queue_site, start_consumer, stop


@pytest.fixture(params=["sqlite-queue", "redis-queue"])
def media_queue(request, app, tmp_path):
    with queue_site(app, tmp_path, "media", use_redis=request.param == "redis-queue") as site:
        yield site


def uploaded_asset(queue_app, session, clip):
    from lms.accounts.models import OrgKind
    from lms.accounts.services import get_or_create_organization
    from lms.media.services import save_upload

    with queue_app.test_request_context():
        org = get_or_create_organization("队列测试机构", OrgKind.PUBLISHER)
        with open(clip, "rb") as fh:
            asset = save_upload(fh, original_name=clip.name, organization=org, max_bytes=500 * 1024 * 1024)
        session.commit()
        return asset.id


def watch(queue_app, session, asset_id, until, timeout=90):
    """Poll the asset as the publisher's page does; returns the progress values seen."""
    from lms.media.models import MediaAsset

    seen, deadline = [], time.monotonic() + timeout
    with queue_app.app_context():
        while time.monotonic() < deadline:
            session.rollback()  # a new transaction each time: see what the consumer committed
            asset = session.get(MediaAsset, asset_id)
            seen.append((asset.status, asset.progress))
            if until(asset):
                return seen
            time.sleep(0.05)
    raise AssertionError(f"asset {asset_id} never reached the expected state; last {seen[-3:]}")


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """Long enough (30 s, 640x360) that a transcode can be caught half-way."""
    return make_lecture(tmp_path_factory.mktemp("long") / "long-lecture.mp4", 30)


def test_a_real_consumer_transcodes_and_reports_progress(media_queue, clips, tmp_path):
    from lms.media.tasks import transcode_job

    queue_app, env, session = media_queue
    asset_id = uploaded_asset(queue_app, session, clips["video"])
    consumer = start_consumer(env, tmp_path)
    try:
        transcode_job(asset_id)
        seen = watch(queue_app, session, asset_id, lambda a: a.status in ("ready", "failed"))
    finally:
        log = stop(consumer)
    assert seen[-1] == ("ready", 100), log
    assert [p for _, p in seen] == sorted(p for _, p in seen)  # progress only moves forward


def test_a_worker_killed_mid_job_leaves_the_asset_retryable(media_queue, long_clip, tmp_path):
    from lms.core import clock
    from lms.core.errors import Conflict
    from lms.media import services
    from lms.media.models import MediaAsset
    from lms.media.tasks import transcode_job

    queue_app, env, session = media_queue
    asset_id = uploaded_asset(queue_app, session, long_clip)
    consumer = start_consumer(env, tmp_path)
    try:
        transcode_job(asset_id)
        watch(queue_app, session, asset_id, lambda a: a.status == "processing" and a.progress > 0)
    finally:
        stop(consumer, signal.SIGKILL)  # the worker and its ffmpeg, at once: no chance to clean up or mark anything
    with queue_app.test_request_context():
        session.rollback()
        asset = session.get(MediaAsset, asset_id)
        assert asset.status == "processing" and not services.is_stalled(asset)  # it reported progress just now
        with pytest.raises(Conflict):
            services.mark_for_transcode(asset)
        silence = timedelta(seconds=queue_app.config["LMS_TRANSCODE_STALL_SECONDS"] + 1)
        with clock.freeze(asset.updated_at + silence):  # no sign of life for longer than the limit
            assert services.is_stalled(asset)
            services.mark_for_transcode(asset)
        session.commit()
    consumer = start_consumer(env, tmp_path)
    try:
        transcode_job(asset_id)
        seen = watch(queue_app, session, asset_id, lambda a: a.status in ("ready", "failed"))
    finally:
        log = stop(consumer)
    assert seen[-1] == ("ready", 100), log
