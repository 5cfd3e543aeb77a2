"""Transcoding: the platform's job against the same ffmpeg commands run alone.

    .venv/bin/python -m bench.transcode [--seconds 60] [--size 1280x720]

Makes a test clip with ffmpeg (testsrc + sine), then times, on the same clip and machine:
  1. the three ffmpeg commands of a transcode (MP4, HLS, poster) run directly, as a baseline;
  2. ``transcode_asset`` (the same commands plus progress parsing and bookkeeping);
  3. the whole job through a real ``huey_consumer`` on the SQLite queue: upload, queue, transcode,
     progress committed to the database, until the asset is ready.
Prints seconds and the ratio of each to the baseline.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_clip(path: Path, seconds: int, size: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc=size={size}:rate=25:duration={seconds}", "-f", "lavfi", "-i",
                    f"sine=duration={seconds}", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                    "-shortest", str(path)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--size", default="1280x720")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-transcode-"))
    os.environ.update({"LMS_INSTANCE_PATH": str(tmp / "instance"), "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
                       "LMS_MEDIA_ROOT": str(tmp / "media"), "LMS_JOBS_FILE": str(tmp / "jobs.sqlite3"),
                       "LMS_SEARCH_INDEX": str(tmp / "search-index"), "SECRET_KEY": "bench", "LMS_DATA_KEY": "bench",
                       "LMS_JOBS_IMMEDIATE": "0", "PYTHONPATH": str(ROOT)})
    sys.path.insert(0, str(ROOT))
    from flask_migrate import upgrade

    from lms import create_app
    from lms.accounts.models import OrgKind
    from lms.accounts.services import get_or_create_organization
    from lms.cli import ensure_reference_data
    from lms.extensions import db
    from lms.media import services
    from lms.media.models import MediaAsset
    from lms.media.tasks import transcode_job

    clip = tmp / "lecture.mp4"
    make_clip(clip, args.seconds, args.size)
    print(f"clip: {args.seconds} s, {args.size}, {clip.stat().st_size / 1e6:.1f} MB; ffmpeg on {os.cpu_count()} cores")

    # 1. The same commands, alone (best of two, like the others' single runs this is wall time).
    runs = []
    for attempt in range(2):
        work = tmp / f"alone-{attempt}"
        (work / "hls").mkdir(parents=True)
        mp4, hls, poster = services.rendition_commands(clip, work, has_audio=True, duration=args.seconds)
        start = time.perf_counter()
        for command in (mp4, hls, poster):
            subprocess.run(command.global_args("-hide_banner", "-loglevel", "error").overwrite_output().compile(),
                           check=True)
        runs.append(time.perf_counter() - start)
    alone = min(runs)

    app = create_app()
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        ensure_reference_data()
        org = get_or_create_organization("基准测试机构", OrgKind.PUBLISHER)
        with open(clip, "rb") as fh:
            first = services.save_upload(fh, original_name="a.mp4", organization=org, max_bytes=1 << 34)
        db.session.commit()

        # 2. The service.
        start = time.perf_counter()
        services.transcode_asset(first, report=lambda fraction: None)
        service = time.perf_counter() - start
        db.session.rollback()

        # 3. The job, through a real consumer.
        with open(clip, "rb") as fh:  # the same file again is a new asset with its own renditions
            second = services.save_upload(fh, original_name="b.mp4", organization=org, max_bytes=1 << 34)
        db.session.commit()
        consumer = subprocess.Popen([str(Path(sys.executable).with_name("huey_consumer")), "lms.worker.media_huey",
                                     "-w", "1", "-k", "thread"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        try:
            time.sleep(1.0)  # let the consumer start: its start-up is not part of a job
            start = time.perf_counter()
            transcode_job(second.id)
            while True:
                db.session.rollback()
                asset = db.session.get(MediaAsset, second.id)
                if asset.status in ("ready", "failed"):
                    break
                time.sleep(0.05)
            job = time.perf_counter() - start
        finally:
            consumer.send_signal(signal.SIGINT)
            consumer.wait(timeout=30)
        assert asset.status == "ready", asset.error

    print(f"{'ffmpeg commands alone':<34}{alone:8.2f} s   1.00")
    print(f"{'transcode_asset (service)':<34}{service:8.2f} s   {service / alone:.2f}")
    print(f"{'transcode job via huey consumer':<34}{job:8.2f} s   {job / alone:.2f}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
