"""Transcoding through real ``huey_consumer`` processes, on the SQLite queue and on Redis.

Each test has its own committed database and queue, so the consumer (another process) sees what
the test wrote. The session app's queue settings are restored afterwards.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy.orm import scoped_session, sessionmaker

from tests.conftest import ROOT, build_database, fresh_database, make_test_app

CONSUMER = Path(sys.executable).with_name("huey_consumer")
REDIS_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture(params=["sqlite-queue", "redis-queue"])
def media_queue(request, app, tmp_path):
    from lms.core import jobs
    from lms.extensions import db

    use_redis = request.param == "redis-queue"
    if use_redis:
        try:
            redis.Redis.from_url(REDIS_URL).ping()
        except redis.ConnectionError:
            pytest.fail("Redis is not running on 127.0.0.1:6379 (scripts/test.sh expects it)")
        redis.Redis.from_url(REDIS_URL).flushdb()
    with fresh_database(tmp_path, "media") as url:
        env = {**os.environ, "LMS_INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": url,
               "LMS_JOBS_FILE": str(tmp_path / "jobs.sqlite3"), "LMS_MEDIA_ROOT": str(tmp_path / "media"),
               "LMS_SEARCH_INDEX": str(tmp_path / "search-index"), "LMS_JOBS_IMMEDIATE": "0",
               "LMS_TRANSCODE_STALL_SECONDS": "1", "SECRET_KEY": "test-secret-key", "LMS_DATA_KEY": "test-data-key",
               "PYTHONPATH": str(ROOT)}
        if use_redis:
            env["REDIS_URL"] = REDIS_URL
        queue_app = make_test_app(url, tmp_path, LMS_JOBS_IMMEDIATE=False, LMS_JOBS_FILE=env["LMS_JOBS_FILE"],
                                  LMS_MEDIA_ROOT=env["LMS_MEDIA_ROOT"], LMS_SEARCH_INDEX=env["LMS_SEARCH_INDEX"],
                                  LMS_TRANSCODE_STALL_SECONDS=1, REDIS_URL=REDIS_URL if use_redis else None)
        saved = db.session
        db.session = scoped_session(sessionmaker())
        try:
            with queue_app.app_context():
                db.session.configure(bind=db.engine)
                build_database(queue_app)
            yield queue_app, env, db.session
        finally:
            db.session.remove()
            db.session = saved
            with queue_app.app_context():
                db.engine.dispose()
            jobs.init_app(app)
            os.environ["LMS_INSTANCE_PATH"] = str(Path(app.instance_path))
            if use_redis:
                redis.Redis.from_url(REDIS_URL).flushdb()


def start_consumer(env, tmp_path):
    log = open(tmp_path / "consumer.log", "ab")  # noqa: SIM115 (closed by stop)
    process = subprocess.Popen([str(CONSUMER), "lms.core.jobs.media_huey", "-w", "1", "-k", "thread"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    process.log_file = log
    return process


def stop(process, sig=signal.SIGINT) -> str:
    process.send_signal(sig)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.log_file.close()
    return Path(process.log_file.name).read_text(errors="replace")


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
    path = tmp_path_factory.mktemp("long") / "long-lecture.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=640x360:rate=25:duration=30", "-f", "lavfi", "-i", "sine=duration=30",
                    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(path)], check=True)
    return path


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
        stop(consumer, signal.SIGKILL)  # no chance to clean up or mark anything
    subprocess.run(["pkill", "-9", "-f", f"renditions/{asset_id}.partial"], check=False)  # its ffmpeg child
    time.sleep(1.5)  # longer than LMS_TRANSCODE_STALL_SECONDS
    with queue_app.test_request_context():
        session.rollback()
        asset = session.get(MediaAsset, asset_id)
        assert asset.status == "processing" and services.is_stalled(asset)
        services.mark_for_transcode(asset)
        session.commit()
    consumer = start_consumer(env, tmp_path)
    try:
        transcode_job(asset_id)
        seen = watch(queue_app, session, asset_id, lambda a: a.status in ("ready", "failed"))
    finally:
        log = stop(consumer)
    assert seen[-1] == ("ready", 100), log
