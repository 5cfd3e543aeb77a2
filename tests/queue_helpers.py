"""Real ``huey_consumer`` processes for the job tests, on the SQLite queue or on Redis.

Each test gets a committed database and a queue of its own, so the consumer (another process)
sees what the test wrote; the session app's queue settings are restored afterwards."""

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from sqlalchemy.orm import scoped_session, sessionmaker

from tests.conftest import ROOT, build_database, fresh_database, make_test_app

CONSUMER = Path(sys.executable).with_name("huey_consumer")
# One Redis database per concurrent run: LMS_TEST_REDIS_URL gives another one (the tests flush it).
REDIS_URL = os.environ.get("LMS_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


@contextmanager
def queue_site(app, tmp_path: Path, name: str, *, use_redis: bool, packages=(), **settings):
    """Yields (the queue's app, the consumer's environment, a committing session); ``settings`` go to
    both the app and the consumer's environment (a ``REDIS_URL`` among them: that Redis, unchecked)."""
    from lms.core import jobs
    from lms.extensions import db

    redis_url = settings.pop("REDIS_URL", None) or (REDIS_URL if use_redis else None)
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
        if redis_url:
            env["REDIS_URL"] = redis_url
        queue_app = make_test_app(url, tmp_path, LMS_JOBS_IMMEDIATE=False, REDIS_URL=redis_url, **paths, **settings)
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


def start_consumer(env, tmp_path, queue: str = "media_huey", *options: str):
    """A consumer in a process group of its own: it and the programs it runs (ffmpeg) can be stopped
    together, and nothing else is. ``options`` go to huey_consumer (e.g. ``-m 1`` as deployed)."""
    log = open(tmp_path / "consumer.log", "ab")  # noqa: SIM115 (closed by stop)
    process = subprocess.Popen([str(CONSUMER), f"lms.worker.{queue}", "-w", "1", "-k", "thread", *options],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    process.log_file = log
    _running.append(process)
    return process


_running: list = []  # consumers started and not yet stopped


def running() -> list:
    """The consumers started and not yet stopped."""
    return list(_running)


def stop_leftovers(keep=()) -> None:
    """Kill the consumers started and not stopped, except ``keep`` (those of wider-scoped fixtures),
    with the programs they run: a test that failed before its ``finally`` leaves none working on
    through the tests after it."""
    for process in [p for p in _running if p not in keep]:
        _running.remove(process)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        process.log_file.close()


def stop(process, sig=signal.SIGINT) -> str:
    """Stop a consumer started by :func:`start_consumer`; returns its log. SIGINT lets it finish the
    job in hand; SIGKILL ends it and every program it started at once, as a crash of its host would,
    and returns once they are all gone."""
    if sig == signal.SIGKILL:
        os.killpg(process.pid, sig)
    else:
        process.send_signal(sig)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    if sig == signal.SIGKILL:
        wait_until_gone(process.pid)
    process.log_file.close()
    if process in _running:
        _running.remove(process)
    return Path(process.log_file.name).read_text(errors="replace")


def wait_until_gone(group: int, timeout: float = 30) -> None:
    """Until no live process is left in process group ``group``, read from /proc: the programs the
    consumer ran were its children, not the test's, so the test cannot wait for them."""
    deadline = time.monotonic() + timeout
    while (alive := _alive_in_group(group)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive, f"processes {alive} of group {group} are still running"


def _alive_in_group(group: int) -> list[int]:
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()  # after "pid (command)": state, ppid, group
        except OSError:  # ended while being read
            continue
        if int(fields[2]) == group and fields[0] not in ("Z", "X"):
            alive.append(int(stat.parent.name))
    return alive
