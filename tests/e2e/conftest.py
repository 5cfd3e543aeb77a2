"""A live server on a database of its own, and Debian's Chromium driven by Playwright."""

import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import ROOT, build_database, fresh_database, make_test_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@contextmanager
def serving(app):
    """Serve ``app`` on a free loopback port from a thread; yields the base URL. Afterwards the
    server stops and the app's database connections are closed."""
    from lms.extensions import db

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        with app.app_context():
            db.engine.dispose()


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
