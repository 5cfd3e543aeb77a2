"""Pooled PostgreSQL connections are pinged only after they sat unused (lms/core/database.py
``configure_pool``): none on a busy node (a heartbeat stays at four round trips), and a connection the
server dropped while idle is replaced before use, without an error. PostgreSQL whatever database the
suite runs on: the pool of SQLite connections is local and never pinged."""

import os

import pytest
from sqlalchemy import create_engine, text

from lms.core import database

ADMIN_URL = os.environ.get("LMS_TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def engine(monkeypatch):
    engine = create_engine(ADMIN_URL, pool_size=1, max_overflow=0)
    database.configure_pool(engine)
    pings = []
    real_ping = engine.dialect.do_ping

    def counted(dbapi_connection):
        pings.append(dbapi_connection)
        return real_ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    engine.pings = pings
    yield engine
    engine.dispose()


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_used_again_at_once_is_not_pinged(engine):
    first = backend_pid(engine)
    for _ in range(5):
        assert backend_pid(engine) == first
    assert engine.pings == []


def test_a_connection_idle_beyond_the_bound_is_pinged_once_then_used(engine, monkeypatch):
    first = backend_pid(engine)
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert backend_pid(engine) == first
    assert len(engine.pings) == 1


def test_a_connection_the_server_dropped_while_idle_is_replaced_before_use(engine, monkeypatch):
    first = backend_pid(engine)
    killer = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with killer.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar_one()
    killer.dispose()
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)  # it has sat unused long enough
    second = backend_pid(engine)  # no error: the failed ping made the pool connect afresh
    assert second != first
    assert engine.pings[0].closed and not engine.pings[-1].closed  # the dropped one failed its ping
