"""The heartbeat's SQL stays short: the locked read in one query (after SQLite's write lock, unless
the transaction began holding it), then the columns that changed, in one statement on PostgreSQL
(the session's UPDATE in a WITH clause) and one UPDATE per row on SQLite; a retried beat writes
nothing."""

import re
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from lms.learning import heartbeat, play, services
from lms.learning.heartbeat import Beat
from tests.learning_helpers import Clock, course

pytestmark = pytest.mark.usefixtures("ctx")


@contextmanager
def statements(db_session):
    seen = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split()))

    engine = db_session.get_bind().engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def set_columns(sql: str) -> set[str]:
    clause = sql.split(" SET ", 1)[1].split(" WHERE ", 1)[0]
    return {re.sub(r'"', "", part.split("=")[0]).strip() for part in clause.split(",")}


def writes(seen: list[str]) -> dict[str, set[str]]:
    """Table → the columns SET, over every UPDATE seen (also an UPDATE inside a WITH clause)."""
    found: dict[str, set[str]] = {}
    for statement in seen:
        for part in re.split(r"(?=UPDATE )", statement)[1:]:
            table = part.split()[1].strip('"')
            found.setdefault(table, set()).update(set_columns(part))
    return found


def is_write(sql: str) -> bool:
    return sql.startswith(("UPDATE", "WITH")) and "UPDATE" in sql


@pytest.fixture
def playing(db_session, make_user):
    learner = make_user()
    c = course(db_session)
    services.enroll(learner, c.code)
    lesson = next(lesson for lesson in c.lessons if lesson.kind == "video")
    tick = Clock()
    with tick():
        session, progress = play.start_session(learner.id, lesson.id)
    db_session.flush()
    return learner, session, progress, tick


def test_a_beat_reads_once_and_writes_only_changed_columns(db_session, playing):
    learner, session, progress, tick = playing
    sqlite = db_session.get_bind().dialect.name == "sqlite"
    tick.advance(10)
    with statements(db_session) as seen, tick():
        result = heartbeat.record_heartbeat(learner.id, Beat(session.id, 1, 10, [[0, 10]]))
    assert result.status == "ok"
    selects = [s for s in seen if s.startswith("SELECT")]
    updates = [s for s in seen if is_write(s)]
    assert len(selects) == 1 and "lesson_progress" in selects[0]
    if not sqlite:
        assert "FOR UPDATE OF play_session, lesson_progress" in selects[0]
    # SQLite: the write lock first (this transaction began deferred), then one UPDATE per row;
    # PostgreSQL: both rows in one statement.
    assert len(updates) == (3 if sqlite else 1)
    if sqlite:
        assert set_columns(updates[0]) == {"id"}
    written = writes(updates[1:] if sqlite else updates)
    assert {"seq", "last_beat_at"} <= written["play_session"]
    assert "duration_seconds" not in written["play_session"]
    assert {"watched_intervals", "watched_seconds", "furthest_point", "last_beat_seq"} <= written["lesson_progress"]
    assert "not_counted" not in written["lesson_progress"]  # nothing refused: the JSON column is left alone
    assert progress.watched_seconds == 10  # ORM copies held by the caller see the new values

    tick.advance(10)
    with statements(db_session) as seen, tick():
        hidden = heartbeat.record_heartbeat(learner.id, Beat(session.id, 2, 10, [[10, 20]], visible=False))
    assert hidden.body["beat_not_counted"] == {"hidden": 10}
    written = writes([s for s in seen if is_write(s) and "SET id=" not in s.replace('"', "")])
    assert "not_counted" in written["lesson_progress"]
    assert "watched_intervals" not in written["lesson_progress"]  # nothing accepted

    with statements(db_session) as seen, tick():
        again = heartbeat.record_heartbeat(learner.id, Beat(session.id, 2, 10, [[10, 20]], visible=False))
    assert again.status == "duplicate"
    assert not [s for s in seen if is_write(s) and "SET id=" not in s.replace('"', "")]
