"""A missing or damaged search index: readers answer 搜索暂不可用 (the catalog keeps working), never
create, repair or delete an index, and queue one rebuild; the worker's rebuild brings search back.

Runs on a real SQLite job queue with a real ``huey_consumer`` as the worker (tests/queue_helpers.py).
"""

import gc
import hashlib
import os
import time
from pathlib import Path

import pytest

from lms.search import services
from tests.queue_helpers import queue_site, start_consumer, stop

QUERY = "网络安全法"
TITLE = "《网络安全法》与数据安全"


def snapshot(live: Path) -> dict:
    """The index on disk: the live link, every generation beside it and their files (contents)."""
    found = {}
    paths = [p for p in live.parent.iterdir() if live.name in p.name]
    for top in paths:
        for path in [top, *(top.rglob("*") if top.is_dir() and not top.is_symlink() else [])]:
            if path.is_symlink():
                found[str(path)] = ("link", os.readlink(path))
            elif path.is_file():
                found[str(path)] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
            else:
                found[str(path)] = ("dir",)
    return found


def remove_link(live: Path):
    live.unlink()  # the generation directory it pointed to is still there


def remove_toc(live: Path):
    tocs = list(live.glob("_MAIN_*.toc"))
    assert tocs
    for toc in tocs:
        toc.unlink()


def garbage_segments(live: Path):
    segments = list(live.glob("*.seg"))
    assert segments
    for n, path in enumerate(segments):
        path.write_bytes(hashlib.sha512(str(n).encode()).digest() * (1 + path.stat().st_size // 64))


@pytest.fixture
def site(app, tmp_path):
    """A committed database with GX-NS-001 published, a live index built from it, a SQLite job queue
    with no worker running (yet)."""
    from lms.core.jobs import huey
    from lms.search.documents import published_documents

    with queue_site(app, tmp_path, "searchdown", use_redis=False, packages=("GX-NS-001",)) as (queue_app, env, _s):
        with queue_app.app_context():
            huey.flush()  # the import queued an index update; this test counts jobs from here on
            assert services.rebuild_index(published_documents()) == 1
            assert services.search(QUERY).total == 1
        yield queue_app, env, Path(queue_app.config["LMS_SEARCH_INDEX"])
    # Every file the damaged index opened is closed by now: collecting the garbage here, in the test
    # that damaged it, turns any file left open into this test's error (ResourceWarning is an error).
    from lms.search import engine

    engine.close_all()
    gc.collect()


def pending_jobs():
    from lms.core.jobs import huey

    return [task.name for task in huey.pending()]


@pytest.mark.parametrize("damage", [remove_link, remove_toc, garbage_segments])
def test_a_broken_index_makes_search_unavailable_until_the_worker_rebuilds_it(site, tmp_path, damage):
    queue_app, env, live = site
    damage(live)
    before = snapshot(live)
    client = queue_app.test_client()

    for _ in range(3):
        page = client.get("/search", query_string={"q": QUERY})
        html = page.get_data(as_text=True)
        assert page.status_code == 503 and page.headers["Retry-After"] == "60", html
        assert "搜索暂不可用" in html and 'href="/courses"' in html and "Traceback" not in html
        api = client.get("/api/v1/search", query_string={"q": QUERY})
        assert api.status_code == 503 and api.is_json
        error = api.get_json()["error"]
        assert error["code"] == "search_unavailable" and "搜索暂不可用" in error["message"]
        assert api.headers["Retry-After"]

    catalog = client.get("/courses")
    assert catalog.status_code == 200 and TITLE in catalog.get_data(as_text=True)
    assert client.get("/").status_code == 200

    assert snapshot(live) == before  # the readers neither created nor deleted anything
    assert pending_jobs() == ["rebuild_index_job"]  # queued once, not per request

    consumer = start_consumer(env, tmp_path, queue="huey")
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            page = client.get("/search", query_string={"q": QUERY})
            if "搜索暂不可用" not in page.get_data(as_text=True):
                break
            time.sleep(0.3)
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and "搜索暂不可用" not in html, html
        assert "GX-NS-001" in html
        assert client.get("/api/v1/search", query_string={"q": QUERY}).get_json()["total"] == 1
    finally:
        log = stop(consumer)
    assert "Traceback" not in log, log
    assert pending_jobs() == []


def test_a_new_break_after_a_rebuild_queues_a_new_rebuild(site, tmp_path):
    from lms.search import tasks

    queue_app, env, live = site
    remove_toc(live)
    client = queue_app.test_client()
    client.get("/search", query_string={"q": QUERY})
    client.get("/search", query_string={"q": QUERY})
    assert pending_jobs() == ["rebuild_index_job"]
    with queue_app.app_context():
        from lms.core.jobs import huey

        task = huey.dequeue()
        huey.execute(task)  # what the worker does with it
        assert services.search(QUERY).total == 1
        remove_toc(Path(queue_app.config["LMS_SEARCH_INDEX"]))
        assert tasks.request_rebuild("again") is True
        assert tasks.request_rebuild("and again") is False
    assert pending_jobs() == ["rebuild_index_job"]


def test_a_reader_never_creates_an_index(app, tmp_path):
    missing = tmp_path / "never-built"
    with app.app_context(), pytest.raises(services.SearchUnavailable):
        services.search(QUERY, index_dir=missing)
    assert not missing.exists() and list(tmp_path.iterdir()) == []


def test_an_update_job_on_a_missing_index_rebuilds_from_the_database(site):
    """The worker does not start an empty index holding one course: it rebuilds from the database."""
    from lms.core.jobs import huey
    from lms.search import tasks
    from lms.search.documents import published_documents

    queue_app, _env, live = site
    remove_link(live)
    with queue_app.app_context():
        [doc] = list(published_documents())
        huey.immediate = True  # run the job here, as the worker would
        try:
            tasks.remove_course_job("NOT-INDEXED-001")
        finally:
            huey.immediate = False
        assert services.search(QUERY).total == 1
