"""The background job queue (huey).

One huey instance per queue and process, created here unconfigured (in memory) so that domains
can declare their tasks with :func:`app_task` when their modules are imported, and pointed at the
app's configuration by :func:`init_app` (which :func:`lms.create_app` calls):

- ``REDIS_URL`` set → Redis queue (workers on many hosts);
- otherwise a SQLite queue file, ``LMS_JOBS_FILE`` (default ``<instance>/jobs.sqlite3``);
- ``LMS_JOBS_IMMEDIATE`` true → jobs run at once in the calling process (tests only).

This module knows no domain and no app factory. Domains register their tasks by being imported:
the app factory imports every task module as it wires the app, so a worker knows every task once
it has built the app. The worker's entry point is :mod:`lms.worker` (``huey_consumer
lms.worker.huey``), which builds the app; ``flask jobs worker`` runs the same consumer inside the
app the ``flask`` command built.

Every job runs inside an app context (:func:`app_task`): the caller's when there is one
(immediate mode), otherwise the app of this process, the last one :func:`init_app` was given.
"""

import functools
import threading
from pathlib import Path

from flask import Flask, has_app_context
from huey import Huey
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

_lock = threading.RLock()
_app: Flask | None = None


def _storage(redis_url: str | None, jobs_file: str) -> tuple[type, dict]:
    if redis_url:
        return RedisStorage, {"url": redis_url}
    Path(jobs_file).parent.mkdir(parents=True, exist_ok=True)
    return SqliteStorage, {"filename": jobs_file}


# Two queues, each with its own consumer: short jobs (the search index, whose single writer keeps
# updates in order) never wait behind a long video transcode. In memory until init_app().
huey = Huey("gongxu-lms", storage_class=MemoryStorage)
media_huey = Huey("gongxu-lms-media", storage_class=MemoryStorage)
QUEUES = {"default": huey, "media": media_huey}


def init_app(app: Flask) -> None:
    """Point the queue at the app's configuration and remember the app for jobs."""
    global _app
    storage_class, kwargs = _storage(app.config.get("REDIS_URL"), app.config["LMS_JOBS_FILE"])
    immediate = bool(app.config.get("LMS_JOBS_IMMEDIATE"))
    with _lock:
        for queue in QUEUES.values():
            queue.storage_class = storage_class
            queue.storage_kwargs = kwargs
            queue.immediate = immediate
            queue.storage = queue.create_storage()
        _app = app


def job_app() -> Flask:
    """The app jobs run in: the one this process built (``lms.worker`` builds it for a consumer)."""
    with _lock:
        if _app is None:
            raise RuntimeError("no app for jobs: run the consumer as `huey_consumer lms.worker.huey` "
                               "(or `flask jobs worker`), which builds the app first")
        return _app


def _in_app(fn):
    """``fn`` run inside an app context: the caller's (immediate mode) or this process's app."""

    @functools.wraps(fn)
    def run_in_app(*args, **kwargs):
        if has_app_context():  # immediate mode: the caller's app
            return fn(*args, **kwargs)
        with job_app().app_context():
            return fn(*args, **kwargs)

    return run_in_app


def app_task(queue: str = "default", **task_options):
    """``huey.task`` (on the named queue) whose function runs inside an app context."""

    def decorator(fn):
        return QUEUES[queue].task(**task_options)(_in_app(fn))  # named module.function by huey

    return decorator


def app_periodic_task(schedule, queue: str = "default", **task_options):
    """``huey.periodic_task`` (e.g. ``crontab(minute="*")``) run inside an app context by the
    queue's consumer (``huey_consumer lms.worker.huey`` and ``flask jobs worker`` run periodic tasks)."""

    def decorator(fn):
        return QUEUES[queue].periodic_task(schedule, **task_options)(_in_app(fn))

    return decorator
