"""Keeping the index current: signal handlers queue jobs; the jobs are the index's only writer.

A course's document is taken just before the transaction commits (when its lessons, subject and
publisher can still be read) and queued only after the commit succeeds, so the worker never
indexes a course that was rolled back. Jobs carry the whole document, so they do not race the
database; one consumer (``-w 1``) applies them in order.

A reader that finds the index missing or damaged asks for one rebuild (``request_rebuild``);
an update job that finds it so rebuilds it from the database before applying its change, so the
index never restarts empty with only the latest course in it.
"""

import logging
import time

from sqlalchemy import event
from sqlalchemy.orm import Session

from ..core import signals
from ..core.jobs import app_task, huey
from ..extensions import db
from . import services
from .documents import course_document, is_searchable, published_documents
from .terms import REBUILD_AFTER_COMMIT, current_dictionary

log = logging.getLogger(__name__)

_PENDING = "search_pending"  # Session.info key: {code: Course or None (remove)}
REBUILD_REQUESTED = "search:rebuild-requested"  # key in the queue's storage: when a reader asked
REQUEST_AGAIN_AFTER = 15 * 60  # seconds: a request whose job never ran (queue lost) may be renewed


@app_task(retries=3, retry_delay=5)
def index_course_job(doc: services.CourseDocument) -> str:
    try:
        services.index_course(doc)
    except services.SearchUnavailable as exc:
        _rebuild_for_update(exc)
        services.index_course(doc)  # in the database too by now, unless retired since: then a later job removes it
    return doc.code


@app_task(retries=3, retry_delay=5)
def remove_course_job(code: str) -> str:
    try:
        services.remove_course(code)
    except services.SearchUnavailable as exc:
        _rebuild_for_update(exc)
        services.remove_course(code)
    return code


def _rebuild_for_update(exc: services.SearchUnavailable) -> None:
    log.warning("search index unusable (%s): rebuilding it from the database", exc.reason)
    # A session of its own: in immediate mode this job runs inside the publisher's after_commit,
    # where that session may not query any more.
    with Session(db.engine) as session:
        services.rebuild_index(published_documents(session=session), dictionary=current_dictionary(session))


@app_task()
def rebuild_index_job(dictionary=None) -> int:
    """The whole index afresh, cut with ``dictionary`` (by default the database's as it is now)."""
    if dictionary is None:
        count = services.rebuild_index(published_documents(), dictionary=current_dictionary())
    else:  # queued by a dictionary edit after its commit: read the courses in a session of its own
        with Session(db.engine) as session:
            count = services.rebuild_index(published_documents(session=session), dictionary=dictionary)
    rebuild_done()
    return count


def rebuild_done() -> None:
    """Forget the readers' request for a rebuild (one ran), so a later failure may ask again."""
    huey.get(REBUILD_REQUESTED)


def request_rebuild(reason: str) -> bool:
    """Queue a rebuild for a reader that found the index missing or damaged; True when this call
    queued it. Readers ask, the worker rebuilds (readers never touch the index). The request is
    kept in the queue's storage, which every web process shares, so the many searches that fail
    until the rebuild is done queue it once; it is renewed only if no rebuild ran for
    REQUEST_AGAIN_AFTER seconds (a job lost with its queue)."""
    now = time.time()
    if not huey.put_if_empty(REBUILD_REQUESTED, now):
        asked_at = huey.get(REBUILD_REQUESTED, peek=True)
        if asked_at is not None and now - float(asked_at) < REQUEST_AGAIN_AFTER:
            return False
        huey.put(REBUILD_REQUESTED, now)
    log.warning("search index unavailable (%s): rebuild queued", reason)
    try:
        rebuild_index_job()
    except Exception:  # search stays unavailable; the next request after the delay asks again
        log.exception("could not queue the search index rebuild")
        return False
    return True


def search(query: str, filters: services.SearchFilters, sort: str, page: int, *, per_page: int):
    """``services.search`` for the web: when the index is missing or damaged, queue one rebuild,
    then raise SearchUnavailable for the page or the API to answer."""
    try:
        return services.search(query, filters, sort, page, per_page=per_page)
    except services.SearchUnavailable as exc:
        request_rebuild(exc.reason)
        raise


def _queue_change(course, *, publish: bool, session: Session) -> None:
    session.info.setdefault(_PENDING, {})[course.code] = course if publish else None


def on_course_published(sender, course, **extra):
    _queue_change(course, publish=True, session=db.session())


def on_course_retired(sender, course, **extra):
    _queue_change(course, publish=False, session=db.session())


def _before_commit(session: Session) -> None:
    if session.info.pop(REBUILD_AFTER_COMMIT, False):  # the dictionary changed: rebuild with it, once committed
        session.info["search_dictionary"] = current_dictionary(session)
    pending = session.info.get(_PENDING)
    if not pending:
        return

    # Read the documents now, while the session can still load lessons and names.
    session.info["search_ready"] = [
        (code, course_document(course) if course is not None and is_searchable(course) else None)
        for code, course in pending.items()
    ]
    pending.clear()


def _after_commit(session: Session) -> None:
    changed = session.info.pop("search_dictionary", None)
    if changed is not None:
        try:
            rebuild_index_job(changed)
        except Exception:  # the edit stands; `flask search rebuild` applies it
            log.exception("could not queue the search index rebuild for a dictionary change")
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
    session.info.pop(REBUILD_AFTER_COMMIT, None)
    session.info.pop("search_dictionary", None)
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
