"""Fixtures shared by every test.

The database is real: SQLite (default) or PostgreSQL when LMS_TEST_DATABASE=postgresql. Each run
creates a fresh database, builds it with the Alembic migrations, imports two course packages, and
runs every test inside a transaction that is rolled back afterwards.
"""

import os
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import scoped_session, sessionmaker

from tests.markers import layer_marks

ROOT = Path(__file__).resolve().parent.parent
TEST_PASSWORD = "Study2026ok"


def pytest_report_header(config):
    return f"database: {os.environ.get('LMS_TEST_DATABASE', 'sqlite')}"


def pytest_collection_modifyitems(config, items):
    """Mark each test with its layer (tests/markers.py): ``-m "not e2e and not integration"`` is the quick loop."""
    for item in items:
        for name in layer_marks(item):
            item.add_marker(name)


@contextmanager
def fresh_database(tmp_dir: Path, name: str):
    """A new empty database of the kind under test; dropped afterwards."""
    kind = os.environ.get("LMS_TEST_DATABASE", "sqlite")
    if kind == "sqlite":
        yield f"sqlite:///{tmp_dir / (name + '.sqlite3')}"
        return
    if kind != "postgresql":
        raise pytest.UsageError(f"LMS_TEST_DATABASE must be sqlite or postgresql, not {kind}")
    admin_url = os.environ.get("LMS_TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    db_name = f"lms_test_{name}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db_name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + db_name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()


def make_test_app(database_url: str, tmp_dir: Path, **overrides):
    os.environ["LMS_INSTANCE_PATH"] = str(tmp_dir / "instance")
    from lms import create_app

    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "test-secret-key",
        "LMS_DATA_KEY": "test-data-key",
        "LMS_MEDIA_ROOT": str(tmp_dir / "media"),
        "LMS_DEMO_CACHE": str(ROOT / ".cache" / "demo-video"),
        "LMS_PASSWORD_METHOD": "pbkdf2:sha256:1000",  # fast hashing in tests only
        "LMS_LOGIN_RATE_LIMIT": "5 per minute",
        "LMS_INSPECTION_REVEAL_DELAY_HOURS": 0,
        "LMS_INSPECTION_PUBLIC_RATE_LIMIT": "1000 per minute",  # one test sets a low limit  # plans are drawn right after freezing (one test sets a delay)
        "SERVER_NAME": None,
        "LMS_JOBS_IMMEDIATE": True,  # jobs (search index updates) run at once, in the test
    }
    config.update(overrides)
    return create_app(config)


def build_database(app, packages=()):
    """Migrate an empty database to head, add reference data and import course packages."""
    from flask_migrate import upgrade

    from lms.catalog.services import import_packages, load_packages
    from lms.cli import ensure_reference_data
    from lms.extensions import db

    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        ensure_reference_data()
        if packages:
            import_packages(None, load_packages([ROOT / "courses" / code for code in packages]))
        db.session.commit()


@contextmanager
def committed_app(tmp_dir: Path, name: str, packages=("GX-NS-001",), **overrides):
    """An app on a database of its own whose commits are real (for tests with several threads)."""
    from lms.extensions import db

    with fresh_database(tmp_dir, name) as url:
        application = make_test_app(url, tmp_dir, **overrides)
        build_database(application, packages=packages)
        try:
            yield application
        finally:
            with application.app_context():
                db.engine.dispose()


def session_per_thread(app, monkeypatch) -> None:
    """Real, committing sessions, one per thread, in place of the rolled-back test session."""
    from lms.extensions import db

    with app.app_context():
        engine = db.engine
    monkeypatch.setattr(db, "session", scoped_session(sessionmaker(bind=engine), scopefunc=threading.get_ident))


@pytest.fixture(scope="module", autouse=True)
def _job_queue_restored():
    """A module that builds apps of its own (a served app, a second instance) binds the job queue to
    the last one built (lms.core.jobs.init_app), and some of those queue jobs rather than running them
    at once: afterwards the queue goes back to the app it served before, for the modules that follow."""
    from lms.core import jobs

    previous = jobs._app
    yield
    if previous is not None and jobs._app is not previous:
        jobs.init_app(previous)


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lms")
    with fresh_database(tmp, "main") as url:
        application = make_test_app(url, tmp)
        build_database(application, packages=("GX-NS-001", "GX-DT-002"))
        yield application
        from lms.extensions import db

        with application.app_context():
            db.engine.dispose()


class _TestSession(scoped_session):
    """One session for the whole test: the test body and its requests see the same objects.

    Request teardown calls ``remove()``; here that keeps the session (its commits already released
    their savepoints), so objects made by the test stay usable after a request.
    """

    def remove(self):
        pass


@pytest.fixture(autouse=True)
def _no_consumer_left_running():
    """A job consumer a failed test left running is stopped at its teardown (those of wider-scoped
    fixtures, started before it, are theirs to stop)."""
    from tests import queue_helpers

    before = queue_helpers.running()
    yield
    queue_helpers.stop_leftovers(keep=before)


@pytest.fixture(autouse=True)
def db_session(request, app):
    """Every test runs in a transaction that is rolled back; commits become savepoint releases."""
    if "live_server" in request.fixturenames:
        yield None
        return
    from lms.extensions import db, limiter

    # The app context is only held while setting up: a context left pushed would be reused by
    # every test-client request, sharing flask.g (and so the logged-in user) between clients.
    with app.app_context():
        connection = db.engine.connect()
        limiter.reset()
    outer = connection.begin()
    original = db.session
    db.session = _TestSession(sessionmaker(bind=connection, join_transaction_mode="create_savepoint"))
    try:
        yield db.session
    finally:
        scoped_session.remove(db.session)
        db.session = original
        outer.rollback()
        connection.close()


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    from tests.clips import make_clips

    return make_clips(tmp_path_factory.mktemp("clips"))


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        yield


class _ClosingClient:
    """A test client that closes every response it returned when the test ends.

    A response holds the request body the client spooled to a temporary file (large uploads);
    closing them here, not whenever the garbage collector gets to them, keeps ResourceWarnings
    out of unrelated tests."""

    def __init__(self, app):
        self._client = app.test_client()
        self._responses = []

    def open(self, *args, **kwargs):
        response = self._client.open(*args, **kwargs)
        self._responses.append(response)
        return response

    def get(self, *args, **kwargs):
        return self.open(*args, method="GET", **kwargs)

    def post(self, *args, **kwargs):
        return self.open(*args, method="POST", **kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)

    def close(self):
        for response in self._responses:
            response.close()
            # werkzeug closes the request's input_stream, which is only a wrapper when the view
            # set a content length limit; the spooled body underneath needs closing too.
            body = response.request.environ.get("wsgi.input") if response.request is not None else None
            if body is not None:
                body.close()
        self._responses.clear()


@pytest.fixture
def client_factory(app):
    clients = []

    def make():
        clients.append(_ClosingClient(app))
        return clients[-1]

    yield make
    for made in clients:
        made.close()


@pytest.fixture
def client(client_factory):
    return client_factory()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# ---------------------------------------------------------------- factories

def id_number(prefix17: str) -> str:
    from lms.accounts.identifiers import id_number_check_char

    return prefix17 + id_number_check_char(prefix17)


def credit_code(prefix17: str) -> str:
    from lms.accounts.identifiers import credit_code_check_char

    return prefix17 + credit_code_check_char(prefix17)


@pytest.fixture
def make_user(app, db_session):
    from lms.accounts import services
    from lms.accounts.models import Role

    counter = iter(range(1, 10_000))

    def make(*, roles=(Role.LEARNER,), real_name="测试学员", password=TEST_PASSWORD, region="110000", **kw):
        n = next(counter)
        data = services.PersonData(
            real_name=real_name, id_number=kw.pop("id_number", None) or id_number(f"32010219900101{n % 1000:03d}"),
            password=password, mobile=kw.pop("mobile", f"139{n:08d}"), email=kw.pop("email", None),
            region_code=region, employer_name=kw.pop("employer_name", "测试单位"),
            employer_credit_code=kw.pop("employer_credit_code", credit_code("91320102MA1WXYU0" + str(n % 10))),
        )
        with app.test_request_context():
            user = services.create_person(None, data, roles=())
            for role in roles:
                services.grant_role(None, user, role, **kw)
            db_session.commit()
        return user

    return make


@pytest.fixture
def login(client):
    def do(user, password=TEST_PASSWORD):
        page = client.get("/login")
        token = _csrf_token(page.get_data(as_text=True))
        response = client.post("/login", data={"login": user.mobile, "password": password, "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)
        return response

    return do


def _csrf_token(html: str) -> str:
    import re

    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def csrf_token():
    return _csrf_token
