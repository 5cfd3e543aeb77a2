"""Real ``huey_consumer`` processes for the job tests, on the SQLite queue or on Redis.

Each test gets a committed database and a queue of its own, so the consumer (another process)
sees what the test wrote; the session app's queue settings are restored afterwards."""

import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from sqlalchemy.orm import scoped_session, sessionmaker

from tests.conftest import ROOT, build_database, fresh_database, make_test_app

CONSUMER = Path(sys.executable).with_name("huey_consumer")
REDIS_URL = "redis://127.0.0.1:6379/14"


@contextmanager
def queue_site(app, tmp_path: Path, name: str, *, use_redis: bool, packages=(), **settings):
    """Yields (the queue's app, the consumer's environment, a committing session); ``settings`` go to
    both the app and the consumer's environment."""
    from lms.core import jobs
    from lms.extensions import db

    if use_redis:
        try:
            redis.Redis.from_url(REDIS_URL).ping()
        except redis.ConnectionError:
            pytest.fail("Redis is not running on 127.0.0.1:6379 (scripts/test.sh expects it)")
        redis.Redis.from_url(REDIS_URL).flushdb()
    with fresh_database(tmp_path, name) as url:
        paths = {"LMS_JOBS_FILE": str(tmp_path / "jobs.sqlite3"), "LMS_MEDIA_ROOT": str(tmp_path / "media"),
                 "LMS_SEARCH_INDEX": str(tmp_path / "search-index")}
        env = {**os.environ, "LMS_INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": url,
               "LMS_JOBS_IMMEDIATE": "0", "SECRET_KEY": "test-secret-key", "LMS_DATA_KEY": "test-data-key",
               "PYTHONPATH": str(ROOT), **paths, **{key: str(value) for key, value in settings.items()}}
        if use_redis:
            env["REDIS_URL"] = REDIS_URL
        queue_app = make_test_app(url, tmp_path, LMS_JOBS_IMMEDIATE=False, REDIS_URL=REDIS_URL if use_redis else None,
                                  **paths, **settings)
        saved = db.session
        db.session = scoped_session(sessionmaker())
        try:
            with queue_app.app_context():
                db.session.configure(bind=db.engine)
                build_database(queue_app, packages=packages)
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


def start_consumer(env, tmp_path, queue: str = "media_huey"):
    log = open(tmp_path / "consumer.log", "ab")  # noqa: SIM115 (closed by stop)
    process = subprocess.Popen([str(CONSUMER), f"lms.worker.{queue}", "-w", "1", "-k", "thread"],
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
