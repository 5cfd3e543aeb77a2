"""A live server on a database of its own, and Debian's Chromium driven by Playwright."""

import os
import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import ROOT, TEST_PASSWORD, build_database, credit_code, fresh_database, id_number, make_test_app
from tests.queue_helpers import start_consumer, stop

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def closing_responses(app):
    """The app, with every response closed even when the browser drops the connection.

    Werkzeug's development server skips ``close()`` on the response when the client hangs up while
    it drains the request (a browser cancelling a video segment, say), which leaves the file being
    sent open until garbage collection; the generator's ``finally`` closes it in any case."""

    def wsgi(environ, start_response):
        response = app(environ, start_response)

        def body():
            try:
                yield from response
            finally:
                if hasattr(response, "close"):
                    response.close()

        return body()

    return wsgi


@contextmanager
def serving(app):
    """Serve ``app`` on a free loopback port from a thread; yields the base URL, which becomes the
    app's public address (``LMS_PUBLIC_URL``) as on a real host, so the links it hands out (QR codes,
    certificates) lead back to it. Afterwards the server stops and the database connections are closed."""
    from lms.extensions import db

    server = make_server("127.0.0.1", 0, closing_responses(app), threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app.config["LMS_PUBLIC_URL"] = base
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        thread.join(timeout=5)
        with app.app_context():
            db.engine.dispose()


@contextmanager
def serving_with_workers(tmp: Path, name: str, packages=(), **config):
    """A server on a database and job queue of its own, with one real huey consumer per queue
    (separate processes, configured through the environment as on a real host). Yields (app, base URL)."""
    from lms.core import jobs

    previous_app = jobs._app
    with fresh_database(tmp, name) as url:
        settings = {"LMS_JOBS_IMMEDIATE": False, "LMS_JOBS_FILE": str(tmp / "jobs.sqlite3"),
                    "LMS_MEDIA_ROOT": str(tmp / "media"), "LMS_SEARCH_INDEX": str(tmp / "search-index"), **config}
        app = make_test_app(url, tmp, **settings)
        build_database(app, packages=packages)
        env = {**os.environ, "DATABASE_URL": url, "LMS_INSTANCE_PATH": str(tmp / "instance"),
               "SECRET_KEY": "test-secret-key", "LMS_DATA_KEY": "test-data-key", "PYTHONPATH": str(ROOT),
               **{key: str(int(value) if isinstance(value, bool) else value) for key, value in settings.items()}}
        consumers = [start_consumer(env, tmp, queue=queue) for queue in ("huey", "media_huey")]
        try:
            with serving(app) as base:
                yield app, base
        finally:
            for process in consumers:
                stop(process)
            if previous_app is not None:
                jobs.init_app(previous_app)


_learners = iter(range(1, 1000))


def enrolled_learner(app, code: str, *, region: str = "110000", name: str = "播放测试"):
    """A learner of ``region`` enrolled in course ``code`` on ``app``'s database, committed; returns
    (user id, mobile to sign in with, the course's video lesson ids). Numbers are unique in a run."""
    from lms.accounts import services as accounts
    from lms.extensions import db
    from lms.learning import services as learning

    n = next(_learners)
    with app.test_request_context():
        user = accounts.create_person(None, accounts.PersonData(
            real_name=name, id_number=id_number(f"11010519900102{n:03d}"), password=TEST_PASSWORD,
            mobile=f"136{n:08d}", region_code=region, employer_name="测试单位",
            employer_credit_code=credit_code("91110105MA01ABCD3")))
        enrollment = learning.enroll(user, code)
        lessons = [lesson.id for lesson in enrollment.course.lessons if lesson.kind == "video"]
        db.session.commit()
        return user.id, user.mobile, lessons


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    packages = sorted(p.parent.name for p in (ROOT / "courses").glob("*/course.yaml"))
    with fresh_database(tmp, "e2e") as url:
        app = make_test_app(url, tmp)
        build_database(app, packages=packages)
        with serving(app) as base:
            yield base


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run `make test`, which installs it (apt-get install chromium).")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "zh-CN"}


def until(page, expression: str, timeout: float = 30) -> None:
    """Poll a JavaScript expression until it is true. Not ``page.wait_for_function``: after its first try it
    evaluates the expression as a string inside the page, which the platform's CSP (no 'unsafe-eval')
    forbids, so it fails whenever the condition is not already true. It waits through Playwright
    (``page.wait_for_timeout``), never ``time.sleep``, so the page's route handlers keep being served:
    the sync API runs them only while the test thread is inside a Playwright call."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"never true: {expression}"
        page.wait_for_timeout(200)
