"""Health for the load balancer, readiness for the balancer and the operators.

``/healthz`` (public) says only ``ok`` or ``error``: 503 only when this node is useless, i.e. its
primary database does not answer. Everything else a node uses can fail without taking it out of
rotation: one shared fault (Redis, the search index, storage) would otherwise empty the whole pool.

``/readyz`` (the metrics token or an allowed network, as ``/metrics``) says why: each check's
status (``ok``, ``degraded``, ``error``, or ``off`` when not configured) with its figures, and the
node's status: ``error`` when the database does not answer (503), ``degraded`` when another check
fails (200: still in rotation), else ``ok``. Domains register their checks with :func:`check`
(the search index registers its own); this module knows no domain.
"""

import time
from collections.abc import Callable

from flask import current_app

from ..extensions import db
from . import jobs, storage

OK, DEGRADED, ERROR, OFF = "ok", "degraded", "error", "off"
_checks: dict[str, Callable[[], dict]] = {}


def check(name: str):
    """Register ``fn() -> {"status": ..., figures...}``, run at each readiness request inside the app
    context. An exception it raises counts as ``degraded`` with the exception's class named."""

    def decorator(fn):
        _checks[name] = fn
        return fn

    return decorator


def _timed(fn) -> dict:
    started = time.perf_counter()
    try:
        found = fn()
    except Exception as exc:  # reported, not raised: a readiness answer must come
        found = {"status": DEGRADED, "error": type(exc).__name__}
    found.setdefault("ms", round((time.perf_counter() - started) * 1000, 1))
    return found


def database_answers() -> dict:
    try:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # reported: the node is out of rotation while its database is down
        return {"status": ERROR, "error": type(exc).__name__}
    return {"status": OK, "dialect": db.engine.dialect.name}


def healthy() -> bool:
    """What /healthz answers: does the primary database answer."""
    return database_answers()["status"] == OK


@check("redis")
def _redis() -> dict:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return {"status": OFF}
    import redis  # the client the job queue and rate limits use; only with REDIS_URL

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return {"status": OK}


@check("storage")
def _storage() -> dict:
    """The configured storage (a folder, or an S3 bucket) answers; a node without it still serves
    pages and heartbeats, so it degrades the node rather than removing it."""
    try:
        figures = storage.media_storage().check()
    except storage.StorageUnavailable as exc:
        return {"status": DEGRADED, "error": exc.reason}
    return {"status": OK, **figures}


@check("queues")
def _queues() -> dict:
    return {"status": OK, "pending": {name: queue.pending_count() for name, queue in jobs.QUEUES.items()},
            "scheduled": {name: queue.scheduled_count() for name, queue in jobs.QUEUES.items()}}


def readiness() -> tuple[str, dict]:
    """(node status, {check: result}); the database first, then every registered check."""
    results = {"database": _timed(database_answers)}
    for name, fn in _checks.items():
        results[name] = _timed(fn)
    if results["database"]["status"] != OK:
        return ERROR, results
    return (OK if all(r["status"] in (OK, OFF) for r in results.values()) else DEGRADED), results
