"""Reads from a PostgreSQL streaming replica (``DATABASE_REPLICA_URL``), when one is configured.

What goes to the replica: plain reads (SELECT without FOR UPDATE) inside :func:`reads`, which the
views that only show what others wrote enter through :func:`reads_from_replica` (the catalog, search
results, unit and region pages, the HR API's reads) and jobs enter for long reads (exports).
Everything else reads and writes the primary, and so does any read

- after the same session wrote anything (its later reads must see the write),
- of a browser that wrote within the last ``LMS_REPLICA_STICKY_SECONDS`` (read-your-writes across
  requests: a cookie, set on the answer to the request that wrote, sends its reads to the primary
  until it expires; forging or dropping it only chooses between two correct copies),
- of the signed-in user and their login session (loaded before the view enters the replica), so a
  revoked session or role is never accepted from a lagging copy,
- while the replica lags more than ``LMS_REPLICA_MAX_LAG_SECONDS`` or does not answer: its state is
  checked at most every ``CHECK_SECONDS`` per process, and an error on a replica connection marks it
  down at once: a view whose replica went away under it runs again on the primary (the marked views
  only read), so a stopped replica fails no page. The readiness view reports it (``degraded``, never out of
  rotation: one replica's fault must not empty the pool).

Lag is measured on the replica as the time since the last replayed transaction while WAL is still
waiting to be replayed (zero when it has replayed everything it received).
"""

import contextlib
import contextvars
import logging
import threading
import time
from functools import wraps

from flask import current_app, g, has_request_context, request
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Select

from ..extensions import Session, db
from . import health

log = logging.getLogger(__name__)

BIND = "replica"
COOKIE = "lms_primary"
CHECK_SECONDS = 2.0
DOWN_RECHECK_SECONDS = 5.0
_SAFE_METHODS = ("GET", "HEAD")
_WROTE = "lms_wrote"  # key of a session's ``info``: it wrote in its current transaction
_READS = contextvars.ContextVar("lms_replica_reads", default=False)
LAG_SQL = ("SELECT CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0 "
           "ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END, "
           "pg_is_in_recovery()")


class _State:
    """What this process last learned of the replica: its lag, or that it is down, and when."""

    def __init__(self):
        self.lock = threading.Lock()
        self.checked = float("-inf")
        self.lag: float | None = None
        self.error: str | None = None

    def mark_down(self, error: str) -> None:
        with self.lock:
            if self.error is None:
                log.warning("replica unavailable, reading from the primary: %s", error)
            self.error, self.lag, self.checked = error, None, time.monotonic()


_states: dict[int, _State] = {}


def configured(app=None) -> bool:
    app = app or current_app
    return bool(app.config.get("SQLALCHEMY_BINDS", {}).get(BIND))


def _state() -> _State:
    return _states.setdefault(id(current_app._get_current_object()), _State())


def measure() -> tuple[float | None, str | None]:
    """(lag in seconds, None) of the replica, or (None, why) when it does not answer or is no replica."""
    try:
        with db.engines[BIND].connect() as conn:
            lag, recovering = conn.exec_driver_sql(LAG_SQL).one()
    except Exception as exc:  # any failure: the replica is not used until it answers again
        return None, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    if not recovering:
        return None, "DATABASE_REPLICA_URL names a server that is not in recovery (not a replica)"
    return float(lag), None


def usable() -> bool:
    """Whether the replica is within the lag bound, as last checked (at most CHECK_SECONDS ago)."""
    state = _state()
    now = time.monotonic()
    wait = DOWN_RECHECK_SECONDS if state.error else CHECK_SECONDS
    if now - state.checked >= wait:
        lag, error = measure()
        if error:
            state.mark_down(error)
        else:
            with state.lock:
                if state.error is not None:
                    log.warning("replica answers again (lag %.1f s)", lag)
                state.error, state.lag, state.checked = None, lag, now
    return state.error is None and state.lag is not None and state.lag <= current_app.config[
        "LMS_REPLICA_MAX_LAG_SECONDS"]


@contextlib.contextmanager
def reads():
    """Plain reads inside go to the replica (when one is configured and fit); see the module's rules."""
    token = _READS.set(True)
    try:
        yield
    finally:
        _READS.reset(token)


def reads_from_replica(view):
    """A GET view that shows what others wrote: its plain reads go to the replica. The signed-in user
    (and their login session) are loaded from the primary first."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if request.method not in _SAFE_METHODS or not configured():
            return view(*args, **kwargs)
        _ = current_user.is_authenticated  # load the user and check the login session on the primary
        try:
            with reads():
                return view(*args, **kwargs)
        except DBAPIError:
            if not g.pop("_lms_replica_failed", False):
                raise
            db.session.rollback()  # the replica went away mid-view: the same read-only view on the primary
            return view(*args, **kwargs)

    return wrapped


def _read_bind(session, clause):
    """The replica engine for a plain read that may go there, else None (the primary)."""
    if not _READS.get() or session.info.get(_WROTE):
        return None
    if clause is not None and (not isinstance(clause, Select) or clause._for_update_arg is not None):
        return None
    if has_request_context() and (g.get("_lms_wrote") or request.cookies.get(COOKIE)):
        return None
    if not configured() or not usable():
        return None
    return db.engines[BIND]


def _wrote(session) -> None:
    session.info[_WROTE] = True
    if has_request_context():
        g._lms_wrote = True


def init_app(app) -> None:
    """Route reads (only when ``DATABASE_REPLICA_URL`` is set) and remember writers."""
    if not configured(app):
        return
    Session.read_bind = staticmethod(_read_bind)
    with app.app_context():
        engine = db.engines[BIND]

    @event.listens_for(engine, "handle_error")
    def _replica_failed(context):
        if context.is_disconnect or context.connection is None:
            with app.app_context():
                _state().mark_down(type(context.original_exception).__name__)
            if has_request_context():
                g._lms_replica_failed = True

    @app.after_request
    def _stick_to_primary(response):
        if g.get("_lms_wrote"):
            response.set_cookie(COOKIE, "1", max_age=app.config["LMS_REPLICA_STICKY_SECONDS"], httponly=True,
                                samesite="Lax", secure=bool(app.config.get("SESSION_COOKIE_SECURE")))
        return response


@event.listens_for(Session, "after_flush")
def _after_flush(session, _flush_context):
    _wrote(session)


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state):
    if not state.is_select:  # an UPDATE/INSERT/DELETE run as a statement, not through a flush
        _wrote(state.session)


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session, transaction):
    if transaction.parent is None:
        session.info.pop(_WROTE, None)


@health.check("replica")
def _replica_health() -> dict:
    if not configured():
        return {"status": health.OFF}
    lag, error = measure()
    if error:
        return {"status": health.DEGRADED, "error": error}
    bound = current_app.config["LMS_REPLICA_MAX_LAG_SECONDS"]
    return {"status": health.OK if lag <= bound else health.DEGRADED, "lag_seconds": round(lag, 2),
            "max_lag_seconds": bound}
