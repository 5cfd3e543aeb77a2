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

A job enqueued while a request (or another job) runs carries that request's id (lms/core/logs.py)
as the keyword argument ``REQUEST_ID_KWARG``: the worker sets it around the job, so the job's log
lines, huey's own included, name the request that asked for it, and hands the job's function its
other arguments only. A retried job keeps it.
"""

import functools
import logging
import threading
from pathlib import Path

from flask import Flask, has_app_context
from huey import Huey
from huey.signals import SIGNAL_ENQUEUED
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

from . import logs, metrics

log = logging.getLogger(__name__)

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
REQUEST_ID_KWARG = "_lms_request_id"
_running: dict[str, object] = {}  # task id → the log context token to restore after it ran


def _carry_request_id(signal, task) -> None:
    """On enqueue: the task takes the id of the request (or job) that enqueues it."""
    rid = logs.current_request_id()
    if rid is not None and REQUEST_ID_KWARG not in task.kwargs:
        task.kwargs = {**task.kwargs, REQUEST_ID_KWARG: rid}


def _enter_request_id(task) -> None:
    """Before a job runs: its log lines carry the id it was enqueued with (or none)."""
    _running[task.id] = logs.set_job_request_id(task.kwargs.get(REQUEST_ID_KWARG))


def _leave_request_id(task, value, exception) -> None:
    token = _running.pop(task.id, None)
    if token is not None:
        logs.reset_job_request_id(token)


for _queue in QUEUES.values():
    _queue.signal(SIGNAL_ENQUEUED)(_carry_request_id)
    _queue.pre_execute("request_id")(_enter_request_id)
    _queue.post_execute("request_id")(_leave_request_id)


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
        kwargs.pop(REQUEST_ID_KWARG, None)  # set around the job by _enter_request_id
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


def enqueue(task, *args) -> bool:
    """Queue ``task(*args)`` from a request that has already committed its work: False, logged,
    when the queue's storage does not answer (Redis down, its SQLite file locked too long), so the
    page can say the work will start by itself instead of failing after the commit. Every task
    queued this way has a sweep that queues it again from the database (its rows say the work is
    waiting), so nothing depends on this call succeeding. In immediate mode (tests) the call runs
    the job, and what the job raises is raised: it is not the queue's failure."""
    if task.huey.immediate:
        task(*args)
        return True
    try:
        task(*args)
    except Exception:  # the queue's storage: redis.RedisError, sqlite3.Error, OSError, …
        log.exception("could not queue %s%r; its sweep will queue it again", task.task_class.__name__, args)
        return False
    return True


def pending_args(task) -> set:
    """The first argument of every ``task`` job waiting in its queue (not those running): a sweep
    that queues work again skips what is already waiting. Reads the whole queue: for sweeps of
    queues that hold tens of jobs, not millions."""
    return {job.args[0] for job in task.huey.pending() if isinstance(job, task.task_class) and job.args}


@metrics.scrape_source("job_queues")
def queue_depths():
    """Jobs waiting in each queue and jobs scheduled for later (retries, delayed), read from the
    queue's storage at scrape time."""
    pending = {(name,): queue.pending_count() for name, queue in QUEUES.items()}
    scheduled = {(name,): queue.scheduled_count() for name, queue in QUEUES.items()}
    return [metrics.gauge("lms_job_queue_pending", "Jobs waiting for a worker, by queue", pending, ["queue"]),
            metrics.gauge("lms_job_queue_scheduled", "Jobs scheduled for later (retries, delays), by queue",
                          scheduled, ["queue"])]
