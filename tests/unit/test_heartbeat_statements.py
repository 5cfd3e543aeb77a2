"""The heartbeat's SQL stays short: the locked read in one query (after SQLite's write lock), then at
most one UPDATE per row naming only the columns that changed; a retried beat writes nothing."""

import re
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from lms.learning import services
from lms.learning.services import Beat
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


@pytest.fixture
def playing(db_session, make_user):
    learner = make_user()
    c = course(db_session)
    services.enroll(learner, c.code)
    lesson = next(lesson for lesson in c.lessons if lesson.kind == "video")
    tick = Clock()
    with tick():
        session, progress = services.start_session(learner.id, lesson.id)
    db_session.flush()
    return learner, session, progress, tick


def test_a_beat_reads_once_and_writes_only_changed_columns(db_session, playing):
    learner, session, progress, tick = playing
    sqlite = db_session.get_bind().dialect.name == "sqlite"
    tick.advance(10)
    with statements(db_session) as seen, tick():
        result = services.record_heartbeat(learner.id, Beat(session.id, 1, 10, [[0, 10]]))
    assert result.status == "ok"
    selects = [s for s in seen if s.startswith("SELECT")]
    updates = [s for s in seen if s.startswith("UPDATE")]
    assert len(selects) == 1 and "lesson_progress" in selects[0]
    if not sqlite:
        assert "FOR UPDATE OF play_session, lesson_progress" in selects[0]
    assert len(updates) == (3 if sqlite else 2)  # SQLite: the write lock first
    session_update = next(s for s in updates if s.startswith("UPDATE play_session") and "seq" in s)
    progress_update = next(s for s in updates if s.startswith("UPDATE lesson_progress"))
    assert {"seq", "last_beat_at"} <= set_columns(session_update)
    assert "duration_seconds" not in set_columns(session_update)
    assert {"watched_intervals", "watched_seconds", "furthest_point", "last_beat_seq"} <= set_columns(progress_update)
    assert "not_counted" not in set_columns(progress_update)  # nothing refused: the JSON column is left alone
    assert progress.watched_seconds == 10  # ORM copies held by the caller see the new values

    tick.advance(10)
    with statements(db_session) as seen, tick():
        hidden = services.record_heartbeat(learner.id, Beat(session.id, 2, 10, [[10, 20]], visible=False))
    assert hidden.body["beat_not_counted"] == {"hidden": 10}
    progress_update = next(s for s in seen if s.startswith("UPDATE lesson_progress"))
    assert "not_counted" in set_columns(progress_update)
    assert "watched_intervals" not in set_columns(progress_update)  # nothing accepted

    with statements(db_session) as seen, tick():
        again = services.record_heartbeat(learner.id, Beat(session.id, 2, 10, [[10, 20]], visible=False))
    assert again.status == "duplicate"
    assert not [s for s in seen if s.startswith("UPDATE") and "SET id=" not in s.replace('"', "")]
