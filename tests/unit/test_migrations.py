"""The Alembic history builds the schema the models describe, on SQLite and PostgreSQL."""

import os
import re
import shutil
from pathlib import Path

import flask_migrate as migrate_command
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import IntegrityError

from lms.catalog.models import Chapter
from lms.extensions import db
from tests.conftest import ROOT

MIGRATIONS = ROOT / "migrations"


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


# ------------------------------------------------------------------ writing a revision (migrations/README)

# Written before the naming scheme; databases out there carry these ids, so they stay.
EARLIER_FILES = {
    "dd44000cd118_initial_schema.py", "13096fae9f4f_media_renditions_and_transcoding_state.py",
    "publishing01_review_workflow_and_course_covers.py", "learning01_learning_progress_play_sessions_quiz_.py",
    "credits01_credit_ledger_entries_rule_tiers_.py", "records01_api_clients_webhooks_outbox_export_jobs.py",
    "accounts02_login_epoch_ends_other_sessions_on_.py", "learning02_per_learner_credit_budget.py",
    "exam01.py", "accounts03.py", "publishing02.py", "uploads01.py",
}
HEX_IDS = {"dd44000cd118", "13096fae9f4f"}
REVISION_ID = re.compile(r"[a-z]+\d{2,}")


def revision_scripts(directory: Path):
    config = Config(str(directory / "alembic.ini"))
    config.set_main_option("script_location", str(directory))
    return list(ScriptDirectory.from_config(config).walk_revisions())


def test_the_history_is_one_line_of_revisions_named_by_the_scheme():
    files = sorted((MIGRATIONS / "versions").glob("*.py"))
    scripts = revision_scripts(MIGRATIONS)
    assert len(scripts) == len(files)  # one revision per file
    assert len({s.revision for s in scripts}) == len(scripts)
    assert [s.revision for s in scripts if s.is_head] == [scripts[0].revision]
    for script in scripts:
        assert script.revision in HEX_IDS or REVISION_ID.fullmatch(script.revision), script.revision
        name = Path(script.path).name
        assert name in EARLIER_FILES or re.fullmatch(rf"\d{{8}}_\d{{4}}_{script.revision}_\w*\.py", name), name
    for file in files:
        assert "# ### " not in file.read_text(encoding="utf-8"), f"{file.name}: autogenerate markers left in"


@pytest.fixture
def migrations_copy(tmp_path):
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, directory, ignore=shutil.ignore_patterns("__pycache__"))
    return directory


def test_a_new_revision_takes_the_next_id_of_its_area_and_a_dated_file_name(app, migrations_copy):
    head = revision_scripts(MIGRATIONS)[0].revision
    with app.app_context():
        migrate_command.revision(directory=str(migrations_copy), message="credits: carry-over hours")
    (new,) = set((migrations_copy / "versions").glob("*.py")) - {migrations_copy / "versions" / f for f in os.listdir(
        MIGRATIONS / "versions") if f.endswith(".py")}
    assert re.fullmatch(r"20\d{6}_\d{4}_credits03_carry_over_hours\.py", new.name), new.name
    script = next(s for s in revision_scripts(migrations_copy) if s.path == str(new))
    assert (script.revision, script.down_revision, script.doc) == ("credits03", head, "carry-over hours")


def test_a_revision_without_its_area_is_refused(app, migrations_copy, caplog):
    with app.app_context(), pytest.raises(SystemExit):
        migrate_command.revision(directory=str(migrations_copy), message="carry-over hours")
    assert "name the area first" in caplog.text
    with app.app_context(), pytest.raises(SystemExit):
        migrate_command.revision(directory=str(migrations_copy), message="x", rev_id="credits01")  # taken
    assert "credits01 is taken" in caplog.text
    assert len(revision_scripts(migrations_copy)) == len(revision_scripts(MIGRATIONS))  # nothing written


def test_autogenerate_writes_the_operations_without_its_markers(app, migrations_copy):
    probe = sa.Table("migration_probe", db.metadata, sa.Column("id", sa.Integer, primary_key=True))
    try:
        with app.app_context():
            migrate_command.migrate(directory=str(migrations_copy), message="records: a probe table")
    finally:
        db.metadata.remove(probe)
    (new,) = (migrations_copy / "versions").glob("*_records02_a_probe_table.py")
    text = new.read_text(encoding="utf-8")
    assert "op.create_table('migration_probe'" in text and "op.drop_table('migration_probe')" in text
    assert "###" not in text
