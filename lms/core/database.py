"""Engine set-up shared by the web app, the CLI and the tests."""

import contextlib
import contextvars

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

_WRITING = contextvars.ContextVar("lms_sqlite_writing", default=False)


@contextlib.contextmanager
def writing():
    """Transactions begun inside take SQLite's write lock at BEGIN (jobs and commands that write)."""
    token = _WRITING.set(True)
    try:
        yield
    finally:
        _WRITING.reset(token)


def _begins_writing() -> bool:
    if _WRITING.get():
        return True
    return has_request_context() and request.method not in ("GET", "HEAD", "OPTIONS")


def configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys and a busy timeout on every SQLite connection.

    The driver's own transaction handling is switched off and BEGIN emitted by SQLAlchemy, so
    that SAVEPOINTs work (tests run each case inside a rolled-back transaction).

    A request that may write (POST and the like) or code inside :func:`writing` begins with
    ``BEGIN IMMEDIATE``: it waits (busy timeout) for the single writer's lock up front. A deferred
    transaction that read first and then writes fails at once ("database is locked") if another
    writer committed in between, since its snapshot can no longer be upgraded.
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
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _begins_writing() else "BEGIN")


def database_status(db) -> dict:
    """What /healthz reports about the database."""
    try:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return {"status": "ok", "dialect": db.engine.dialect.name}
    except Exception as exc:  # reported, not raised: health checks must answer
        return {"status": "error", "dialect": db.engine.dialect.name, "error": exc.__class__.__name__}
