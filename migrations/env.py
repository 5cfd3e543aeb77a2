import logging
import re
from logging.config import fileConfig
from pathlib import Path

from alembic import context
from alembic.script import ScriptDirectory, write_hooks
from alembic.util import CommandError
from flask import current_app

config = context.config
if config.config_file_name and not logging.getLogger().handlers:
    fileConfig(config.config_file_name)
logger = logging.getLogger("alembic.env")

db = current_app.extensions["migrate"].db
target_metadata = db.metadata

# Revision ids are "<area><NN>": the domain the change belongs to, lower-case letters, then its
# number within that area from 01 (learning02, credits01). The two hexadecimal ids of the first
# revisions were kept: databases out there have them in alembic_version. See README.
REVISION_ID = re.compile(r"^(?P<area>[a-z]+)(?P<number>\d{2,})$")
AREA_MESSAGE = re.compile(r"^\s*(?P<area>[a-z]+)\s*:\s*(?P<text>\S.*)$", re.S)
ALEMBIC_GENERATED_ID = re.compile(r"^[0-9a-f]{12}$")


def next_revision_id(area: str) -> str:
    """The area's next free number: one above the highest revision of that area so far."""
    numbers = [int(match["number"]) for script in ScriptDirectory.from_config(config).walk_revisions()
               if (match := REVISION_ID.match(script.revision)) and match["area"] == area]
    return f"{area}{max(numbers, default=0) + 1:02d}"


def name_revision(script) -> None:
    """Give a new revision its id: the one passed with ``--rev-id`` if it follows the scheme, else
    the next of the area named before the colon in its message (``-m "credits: carry-over hours"``,
    which then reads "carry-over hours")."""
    if REVISION_ID.match(script.rev_id or ""):
        if script.rev_id in {s.revision for s in ScriptDirectory.from_config(config).walk_revisions()}:
            raise CommandError(f"revision id {script.rev_id} is taken; leave out --rev-id to get the next free one")
        return
    area = AREA_MESSAGE.match(script.message or "")
    if not ALEMBIC_GENERATED_ID.match(script.rev_id or "") or not area:
        raise CommandError('name the area first: -m "<area>: what changes" (e.g. -m "credits: carry-over hours"), '
                           "or pass --rev-id <area><NN>; see migrations/README")
    script.rev_id, script.message = next_revision_id(area["area"]), area["text"].strip()


@write_hooks.register("strip_autogenerate_markers")
def strip_autogenerate_markers(path, options):
    """Autogenerate frames its operations with two marker comments; a reviewed revision reads
    without them (alembic.ini runs this after writing each new revision)."""
    file = Path(path)
    lines = file.read_text(encoding="utf-8").splitlines(keepends=True)
    file.write_text("".join(line for line in lines if not line.strip().startswith("# ### ")), encoding="utf-8")


def process_revision_directives(context, revision, directives):
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")
        return
    for script in directives:
        name_revision(script)


def run_migrations_offline():
    context.configure(url=str(db.engine.url).replace("%", "%%"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    with db.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch migrations rebuild SQLite tables; foreign keys are checked once afterwards instead
            # of failing midway. The pragma only takes effect outside a transaction.
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            context.configure(connection=connection, target_metadata=target_metadata, **conf_args)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if sqlite:
                # The pragma is ignored inside a transaction, and SQLAlchemy may still hold one
                # (autobegun by alembic's version query): end it first, or this pooled connection
                # would go back to the pool with foreign keys off.
                if connection.in_transaction():
                    connection.commit()
                raw = connection.connection.dbapi_connection
                problems = raw.execute("PRAGMA foreign_key_check").fetchall()
                raw.execute("PRAGMA foreign_keys=ON")
                assert raw.execute("PRAGMA foreign_keys").fetchone()[0] == 1
                if problems:
                    raise RuntimeError(f"foreign key violations after migration: {problems[:5]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
