"""Engine set-up shared by the web app, the CLI and the tests."""

import contextlib
import contextvars
import time

from flask import g, has_request_context, request
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

from ..extensions import db

_WRITING = contextvars.ContextVar("lms_sqlite_writing", default=False)
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# Key of a SQLite connection's ``info``: whether its current transaction began with BEGIN IMMEDIATE
# (so it holds the write lock from its first statement on).
WRITE_LOCKED = "lms_write_locked"


@contextlib.contextmanager
def writing():
    """Transactions begun inside take SQLite's write lock at BEGIN (jobs and commands that write
    after reading). Keep them short: every other writer waits meanwhile."""
    token = _WRITING.set(True)
    try:
        yield
    finally:
        _WRITING.reset(token)


def commit_apart(change, *, commit=None) -> None:
    """Commit what was read so far, then apply ``change()`` in a short transaction of its own that
    takes SQLite's write lock at BEGIN, and commit it. For work that reads for a long time and
    writes now and then (progress, audit events): a deferred transaction that read first cannot
    write once another writer has committed meanwhile. Nothing may be pending when it is called.
    ``commit`` defaults to the app session's commit."""
    if commit is None:
        commit = db.session.commit
    commit()
    with writing():
        change()
        commit()


def advisory_lock(*keys: int) -> None:
    """PostgreSQL: wait for the other transactions holding the advisory lock ``keys`` (one 64-bit
    key, or two 32-bit ones) to end, and hold it until this transaction ends (taking it again is
    free). SQLite needs none: a transaction that writes holds the single write lock from BEGIN."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(func.pg_advisory_xact_lock(*keys)))


def _begins_writing() -> bool:
    """BEGIN IMMEDIATE inside :func:`writing`, and for the first transaction of a request that may
    write (POST and the like): the one that does the request's work. Later transactions of the
    request (a streamed download after the commit, bookkeeping) begin deferred."""
    if _WRITING.get():
        return True
    if not has_request_context() or request.method in _SAFE_METHODS or g.get("_lms_began_writing"):
        return False
    g._lms_began_writing = True
    return True


def configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys and a busy timeout on every SQLite connection.

    The driver's own transaction handling is switched off and BEGIN emitted by SQLAlchemy, so
    that SAVEPOINTs work (tests run each case inside a rolled-back transaction).

    The first transaction of a request that may write (POST and the like) and code inside
    :func:`writing` begin with ``BEGIN IMMEDIATE``: they wait (busy timeout) for the single
    writer's lock up front. A deferred transaction that read first and then writes fails at once
    ("database is locked") if another writer committed in between, since its snapshot can no
    longer be upgraded; :func:`commit_apart` is for work that reads long and writes now and then.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        immediate = _begins_writing()
        connection.info[WRITE_LOCKED] = immediate
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# A pooled connection unused for longer than this is pinged before it is handed out again.
PING_AFTER_IDLE_SECONDS = 10.0
_IDLE_SINCE = "lms_idle_since"  # key of a pool record's ``info``: when the connection was last given back


def configure_pool(engine: Engine) -> None:
    """Pessimistic disconnect handling that costs nothing under load (PostgreSQL).

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: one more round trip for every request,
    a fifth of a heartbeat's. Here a connection is pinged only when it comes out of the pool after
    more than ``PING_AFTER_IDLE_SECONDS`` unused, or at its first checkout after a failed ping: the
    connections a firewall, pgbouncer or a restarted server dropped while idle are replaced before
    use (the ``checkout`` event's ``DisconnectionError`` makes the pool connect afresh), while a busy
    node, whose connections go back and forth within milliseconds, sends no ping at all. The price:
    a server restarted under load fails the requests already holding a connection (and the next one
    on each connection used within the last seconds); SQLAlchemy then invalidates the pool. A lost
    heartbeat is resent by the player and credits nothing twice."""
    if engine.dialect.name == "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_connection, record):
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record):
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy):
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is not None and time.monotonic() - idle_since <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any failure to answer: replace the connection
            record.info.pop(_IDLE_SINCE, None)
            raise DisconnectionError(f"the pooled connection did not answer a ping: {exc}") from exc
