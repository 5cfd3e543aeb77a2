"""The background job queue (huey).

One huey instance per process. It is configured from the environment when imported, so that
``huey_consumer lms.core.jobs.huey -w 1 -k thread`` finds the same queue as the web app, and
reconfigured from the app's config by :func:`init_app`:

- ``REDIS_URL`` set → Redis queue (workers on many hosts);
- otherwise a SQLite queue file, ``LMS_JOBS_FILE`` (default ``<instance>/jobs.sqlite3``);
- ``LMS_JOBS_IMMEDIATE`` true → jobs run at once in the calling process (tests only).

Every job runs inside an app context (:func:`app_task`): the caller's when there is one
(immediate mode), otherwise the app of this process (``flask jobs worker``), created on first use
in a bare ``huey_consumer``.
"""

import functools
import importlib
import os
import threading
from pathlib import Path

from flask import Flask, has_app_context
from huey import Huey
from huey.storage import RedisStorage, SqliteStorage

# Modules that define jobs; imported with this module so a consumer knows every task.
TASK_MODULES = ("lms.search.tasks", "lms.media.tasks", "lms.core.tasks", "lms.exports.tasks")

_lock = threading.RLock()  # re-entrant: create_app() calls init_app()
_app: Flask | None = None


def _storage(redis_url: str | None, jobs_file: str) -> tuple[type, dict]:
    if redis_url:
        return RedisStorage, {"url": redis_url}
    Path(jobs_file).parent.mkdir(parents=True, exist_ok=True)
    return SqliteStorage, {"filename": jobs_file}


def _from_environment(name: str) -> Huey:
    root = Path(__file__).resolve().parents[2]
    instance = os.environ.get("LMS_INSTANCE_PATH") or str(root / "instance")
    jobs_file = os.environ.get("LMS_JOBS_FILE") or str(Path(instance) / "jobs.sqlite3")
    storage_class, kwargs = _storage(os.environ.get("REDIS_URL") or None, jobs_file)
    return Huey(name, storage_class=storage_class, **kwargs)


# Two queues, each with its own consumer: short jobs (the search index, whose single writer keeps
# updates in order) never wait behind a long video transcode.
huey = _from_environment("gongxu-lms")
media_huey = _from_environment("gongxu-lms-media")
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
    """The app jobs run in; a bare ``huey_consumer`` process creates it on first use."""
    global _app
    with _lock:
        if _app is None:
            from .. import create_app

            _app = create_app()
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
    queue's consumer (``flask jobs worker`` runs periodic tasks)."""

    def decorator(fn):
        return QUEUES[queue].periodic_task(schedule, **task_options)(_in_app(fn))

    return decorator


def load_task_modules() -> None:
    for name in TASK_MODULES:
        importlib.import_module(name)


load_task_modules()
