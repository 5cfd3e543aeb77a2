"""A transcode whose worker died: the media workers' sweep retries it once per stall (however many
sweep at once), up to a limit; an attempt that lost the asset publishes nothing; a retry starts
clean; and ffmpeg dies with the process that started it."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from tests.conftest import ROOT, committed_app, session_per_thread


@pytest.fixture(scope="module")
def own_app(tmp_path_factory):
    with committed_app(tmp_path_factory.mktemp("transcode-recovery"), "transcoderec", packages=()) as application:
        yield application


@pytest.fixture
def real_sessions(own_app, monkeypatch):
    session_per_thread(own_app, monkeypatch)
    return own_app


def _stalled_assets(app, count: int, *, retries: int = 0) -> list[int]:
    """``count`` assets whose transcode (attempt 1) last reported longer ago than the stall limit."""
    from lms.core.clock import utcnow_naive
    from lms.extensions import db
    from lms.media.models import MediaAsset, MediaStatus

    silent_since = utcnow_naive() - timedelta(seconds=app.config["LMS_TRANSCODE_STALL_SECONDS"] + 30)
    with app.app_context():
        assets = [MediaAsset(original_name=f"stalled-{n}.mp4", path=f"videos/00/stalled-{n}.mp4", sha256="0" * 64,
                             size_bytes=1, duration_seconds=30, status=MediaStatus.PROCESSING, progress=40,
                             transcode_attempt=1, transcode_retries=retries, updated_at=silent_since)
                  for n in range(count)]
        db.session.add_all(assets)
        db.session.commit()
        ids = [a.id for a in assets]
        db.session.remove()
    return ids


def _audits(app, action: str, ids) -> int:
    from lms.core.audit import AuditEvent
    from lms.extensions import db

    with app.app_context():
        try:
            return db.session.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == action, AuditEvent.target_id.in_([str(i) for i in ids])))
        finally:
            db.session.remove()


def test_two_workers_sweeping_at_once_retry_each_stall_exactly_once(real_sessions, monkeypatch):
    """Both sweeps read the stalled assets before either claims one (PostgreSQL: they really run
    together; SQLite: the second waits for the first's write lock, and the barrier gives up)."""
    from lms.core.database import writing
    from lms.extensions import db
    from lms.media import services
    from lms.media.models import MediaAsset, MediaStatus

    app = real_sessions
    ids = _stalled_assets(app, 6)
    both_read = threading.Barrier(2, timeout=3)
    real_update = services.update

    def update_after_both_read(*args, **kwargs):
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read.wait()
        return real_update(*args, **kwargs)

    monkeypatch.setattr(services, "update", update_after_both_read)
    results, errors = [], []

    def sweep():
        try:
            with app.app_context():
                with writing():
                    retried = services.sweep_stalled_transcodes()
                    db.session.commit()
                results.append(retried)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            db.session.remove()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert sorted(results[0] + results[1]) == ids  # each stalled asset retried by one sweep, not two
    with app.app_context():
        for asset_id in ids:
            asset = db.session.get(MediaAsset, asset_id)
            assert (asset.status, asset.progress, asset.transcode_retries) == (MediaStatus.UPLOADED, 0, 1)
        db.session.remove()
    assert _audits(app, "media.transcode_retried", ids) == len(ids)
    with app.app_context(), writing():  # and a sweep right after finds nothing stalled
        assert services.sweep_stalled_transcodes() == []
        db.session.rollback()
        db.session.remove()


def test_past_the_retry_limit_the_asset_fails_with_a_message(real_sessions):
    from lms.core.database import writing
    from lms.extensions import db
    from lms.media import services
    from lms.media.models import MediaAsset, MediaStatus

    app = real_sessions
    limit = app.config["LMS_TRANSCODE_MAX_RETRIES"]
    spent, fresh = _stalled_assets(app, 1, retries=limit)[0], _stalled_assets(app, 1, retries=limit - 1)[0]
    with app.app_context():
        with writing():
            retried = services.sweep_stalled_transcodes()
            db.session.commit()
        assert spent not in retried and fresh in retried
        failed = db.session.get(MediaAsset, spent)
        assert failed.status == MediaStatus.FAILED and "转码多次中断" in failed.error and "重新转码" in failed.error
        assert db.session.get(MediaAsset, fresh).transcode_retries == limit
        # the publisher's button starts the count afresh
        services.mark_for_transcode(failed)
        assert (failed.status, failed.transcode_retries, failed.error) == (MediaStatus.UPLOADED, 0, None)
        db.session.rollback()
        db.session.remove()
    assert _audits(app, "media.transcode_given_up", [spent]) == 1


def test_an_attempt_that_lost_the_asset_stops_and_publishes_nothing(real_sessions):
    """A worker that only looked dead (too slow to report) comes back after the sweep retried it."""
    from lms.core import clock
    from lms.core.database import writing
    from lms.extensions import db
    from lms.media import services
    from lms.media.models import MediaAsset, MediaStatus

    app = real_sessions
    asset_id = _stalled_assets(app, 1)[0]
    with app.app_context():
        with writing():
            assert services.sweep_stalled_transcodes() == [asset_id]
            db.session.commit()
        with writing():
            assert services.claim_transcode(asset_id).transcode_attempt == 2
            db.session.commit()
        with writing(), pytest.raises(services.Superseded):  # the old attempt's next report
            services.report_progress(asset_id, 1, 50)
        db.session.rollback()
        with writing():
            paths = {"mp4": "renditions/x/1/video.mp4", "hls": "renditions/x/1/hls/master.m3u8",
                     "poster": "renditions/x/1/poster.jpg"}
            assert services.publish_transcode(asset_id, 1, paths) is False
            services.report_progress(asset_id, 2, 10)  # the live attempt goes on
            db.session.commit()
        asset = db.session.get(MediaAsset, asset_id)
        assert (asset.status, asset.progress, asset.mp4_path) == (MediaStatus.PROCESSING, 10, None)
        with writing():  # a second job for the asset finds it being transcoded: it does nothing
            assert services.claim_transcode(asset_id) is None
            db.session.commit()
        with clock.freeze(clock.now() + timedelta(seconds=app.config["LMS_TRANSCODE_STALL_SECONDS"] + 5)):
            assert services.is_stalled(db.session.get(MediaAsset, asset_id))
        db.session.remove()


def test_the_sweep_retries_a_dead_workers_transcode_clean_and_it_completes(real_sessions, clips):
    """The sweep's job (run at once here) transcodes anew into a folder of its own; what the dead
    attempt left half-written is removed, and only the new renditions are named."""
    from lms.accounts.models import OrgKind
    from lms.accounts.services import get_or_create_organization
    from lms.core.clock import utcnow_naive
    from lms.core.storage import media_path
    from lms.extensions import db
    from lms.media import services
    from lms.media.models import MediaAsset, MediaStatus
    from lms.media.tasks import sweep_stalled_transcodes

    app = real_sessions
    with app.test_request_context():
        org = get_or_create_organization("转码恢复测试机构", OrgKind.PUBLISHER)
        with open(clips["video"], "rb") as fh:
            asset = services.save_upload(fh, original_name="lecture.mp4", organization=org, max_bytes=50 << 20)
        # attempt 1 died half-way: its scraps are under its folder, and it stopped reporting long ago
        asset.status, asset.progress, asset.transcode_attempt = MediaStatus.PROCESSING, 30, 1
        asset.updated_at = utcnow_naive() - timedelta(seconds=app.config["LMS_TRANSCODE_STALL_SECONDS"] + 30)
        db.session.commit()
        asset_id = asset.id
        half = media_path(f"renditions/{asset_id}/1/hls/seg_0000.ts")
        half.parent.mkdir(parents=True)
        half.write_bytes(b"\x47" * 1000)
        assert sweep_stalled_transcodes.call_local() == 1
        db.session.remove()
        asset = db.session.get(MediaAsset, asset_id)
        assert (asset.status, asset.progress, asset.transcode_attempt) == (MediaStatus.READY, 100, 2)
        assert asset.hls_path == f"renditions/{asset_id}/2/hls/master.m3u8"
        assert media_path(asset.mp4_path).stat().st_size > 10_000
        assert "#EXT-X-ENDLIST" in (media_path(asset.hls_path).parent / "index.m3u8").read_text()
        assert not media_path(f"renditions/{asset_id}/1").exists()
        db.session.remove()


# ---------------------------------------------------------------- ffmpeg dies with its parent

_PARENT = """
import subprocess, sys, time
import ffmpeg
from lms.media.services import ffmpeg_process

stream = ffmpeg.input("testsrc=size=320x240:rate=25", f="lavfi", re=None).output("-", f="null")
guarded = ffmpeg_process(stream, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
plain = subprocess.Popen(ffmpeg.compile(stream), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(guarded.pid, plain.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a reaper that a container may not have."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_ffmpeg_started_by_a_worker_dies_when_the_worker_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    plain = None
    try:
        guarded, plain = map(int, parent.stdout.readline().split())
        assert _alive(guarded) and _alive(plain)
        parent.send_signal(signal.SIGKILL)  # no chance to clean up
        parent.wait(30)
        deadline = time.monotonic() + 30
        while _alive(guarded) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(guarded)  # the kernel killed it with its parent
        assert _alive(plain)  # what it would be without: an orphan running on
    finally:
        parent.kill()
        parent.wait(30)
        parent.stdout.close()
        if plain is not None and _alive(plain):
            os.kill(plain, signal.SIGKILL)


def test_the_minute_sweep_takes_the_write_lock_only_when_a_transcode_has_stalled(real_sessions, monkeypatch):
    """Every media worker sweeps every minute: with nothing stalled, the sweep only reads (on SQLite
    the write lock is the whole database's, and would queue every heartbeat behind it)."""
    from lms.extensions import db
    from lms.media import services, tasks
    from lms.media.models import MediaAsset, MediaStatus

    app = real_sessions
    locked = []
    real_writing = tasks.writing

    @contextlib.contextmanager
    def counted_writing():
        locked.append(True)
        with real_writing():
            yield

    monkeypatch.setattr(tasks, "writing", counted_writing)
    with app.app_context():
        # The earlier tests' assets (waiting since their retry) are out of the way.
        db.session.execute(update(MediaAsset).values(status=MediaStatus.FAILED))
        db.session.commit()
        assert not services.any_transcode_to_sweep(set())
        assert tasks.sweep_stalled_transcodes.call_local() == 0
        db.session.remove()
    assert locked == []

    # One stalled past its retries: the sweep takes the lock and fails it (no job to queue).
    asset_id = _stalled_assets(app, 1, retries=app.config["LMS_TRANSCODE_MAX_RETRIES"])[0]
    with app.app_context():
        assert services.any_transcode_to_sweep(set())
        assert tasks.sweep_stalled_transcodes.call_local() == 0
        assert db.session.get(MediaAsset, asset_id).status == MediaStatus.FAILED
        assert not services.any_transcode_to_sweep(set())
        db.session.remove()
    assert locked == [True]


def test_a_video_waiting_with_no_job_is_queued_again_once_per_stall_period(real_sessions):
    """Its job was never queued (the queue was down at the upload) or was lost: the sweep claims it
    by its time, so of two sweeps one queues it, and one with a job waiting in the queue leaves it."""
    from lms.core import clock
    from lms.core.database import writing
    from lms.extensions import db
    from lms.media import services
    from lms.media.models import MediaAsset, MediaStatus

    app = real_sessions
    with app.app_context():
        db.session.execute(update(MediaAsset).values(status=MediaStatus.FAILED))
        asset = MediaAsset(original_name="waiting.mp4", path="videos/00/waiting.mp4", sha256="0" * 64, size_bytes=1,
                           duration_seconds=30, status=MediaStatus.UPLOADED)
        db.session.add(asset)
        db.session.commit()
        asset_id = asset.id
        stall = timedelta(seconds=app.config["LMS_TRANSCODE_STALL_SECONDS"])
        assert not services.any_transcode_to_sweep(set())  # just uploaded: its job is on its way
        with clock.freeze(clock.now() + stall + timedelta(seconds=5)):
            assert services.any_transcode_to_sweep(set())
            assert not services.any_transcode_to_sweep({asset_id})  # its job waits in the queue
            with writing():
                assert services.sweep_waiting_transcodes({asset_id}) == []
                assert services.sweep_waiting_transcodes(set()) == [asset_id]
                assert services.sweep_waiting_transcodes(set()) == []  # claimed: not twice
                db.session.commit()
            assert not services.any_transcode_to_sweep(set())
        with clock.freeze(clock.now() + 2 * stall + timedelta(seconds=10)), writing():
            assert services.sweep_waiting_transcodes(set()) == [asset_id]  # still waiting a period later
            db.session.rollback()
        db.session.remove()
