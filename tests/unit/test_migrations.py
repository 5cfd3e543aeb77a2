"""The Alembic history builds the schema the models describe, on SQLite and PostgreSQL."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from lms.catalog.models import Chapter
from lms.extensions import db


def test_models_and_migrations_agree(app, db_session):
    # The session database was built by running the migrations from empty.
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_foreign_keys_are_enforced(db_session):
    db_session.add(Chapter(course_id=999_999, position=1, title="无主章节"))
    with pytest.raises(IntegrityError):
        db_session.flush()


def test_sqlite_runs_in_wal_mode(app, db_session):
    if app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0] != "sqlite":
        pytest.skip("journal mode is a SQLite setting")
    with app.app_context(), db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
