"""Keeping the index current: signal handlers queue jobs; the jobs are the index's only writer.

A course's document is taken just before the transaction commits (when its lessons, subject and
publisher can still be read) and queued only after the commit succeeds, so the worker never
indexes a course that was rolled back. Jobs carry the whole document, so they do not race the
database; one consumer (``-w 1``) applies them in order.
"""

import logging

from sqlalchemy import event
from sqlalchemy.orm import Session

from ..core import signals
from ..core.jobs import app_task
from . import services

log = logging.getLogger(__name__)

_PENDING = "search_pending"  # Session.info key: {code: Course or None (remove)}


@app_task(retries=3, retry_delay=5)
def index_course_job(doc: services.CourseDocument) -> str:
    services.index_course(doc)
    return doc.code


@app_task(retries=3, retry_delay=5)
def remove_course_job(code: str) -> str:
    services.remove_course(code)
    return code


@app_task()
def rebuild_index_job() -> int:
    from .documents import published_documents

    return services.rebuild_index(published_documents())


def _queue_change(course, *, publish: bool, session: Session) -> None:
    session.info.setdefault(_PENDING, {})[course.code] = course if publish else None


def on_course_published(sender, course, **extra):
    from ..extensions import db

    _queue_change(course, publish=True, session=db.session())


def on_course_retired(sender, course, **extra):
    from ..extensions import db

    _queue_change(course, publish=False, session=db.session())


def _before_commit(session: Session) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    from .documents import course_document, is_searchable

    # Read the documents now, while the session can still load lessons and names.
    session.info["search_ready"] = [
        (code, course_document(course) if course is not None and is_searchable(course) else None)
        for code, course in pending.items()
    ]
    pending.clear()


def _after_commit(session: Session) -> None:
    ready = session.info.pop("search_ready", None)
    for code, doc in ready or ():
        try:
            if doc is not None:
                index_course_job(doc)
            else:
                remove_course_job(code)
        except Exception:  # the commit stands; `flask search rebuild` repairs a missed update
            log.exception("could not queue the search update of %s", code)


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop("search_ready", None)


def connect(app) -> None:
    """Subscribe to catalog signals and session events (idempotent: blinker and SQLAlchemy
    ignore a second identical subscription)."""
    signals.course_published.connect(on_course_published)
    signals.course_retired.connect(on_course_retired)
    if not event.contains(Session, "before_commit", _before_commit):
        event.listen(Session, "before_commit", _before_commit)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_soft_rollback)


def _after_soft_rollback(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the outermost transaction was rolled back
        _after_rollback(session)
