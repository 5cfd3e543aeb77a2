"""Reads from a real streaming replica (a primary and a replica of its own, built with pg_basebackup):
the marked pages read from it, a browser that just wrote reads from the primary, a lagging or stopped
replica is left for the primary without a failed page, and readiness says so.

Which copy answered is seen by pausing the replica's replay and changing a course's title on the
primary: the old title comes from the replica, the new one from the primary."""

import os
import time

import pytest

from lms.accounts import services as accounts
from lms.accounts.models import Role
from lms.core import replica
from lms.extensions import db
from tests.conftest import TEST_PASSWORD, _csrf_token, build_database, id_number, make_test_app
from tests.pg_pair import PgPair

pytestmark = pytest.mark.skipif(os.environ.get("LMS_TEST_DATABASE", "sqlite") != "postgresql",
                                reason="runs in the PostgreSQL pass (it starts a PostgreSQL pair of its own)")

CODE = "GX-NS-001"
TOKEN = "replica-readiness-token"
MOBILE = "13912345678"


@pytest.fixture(autouse=True)
def db_session():
    """The app's own sessions, committing for real (not the rolled-back test session)."""
    return None


@pytest.fixture(scope="module")
def pair():
    pair = PgPair().up()
    yield pair
    pair.down()


@pytest.fixture(scope="module")
def app(pair, tmp_path_factory):
    app = make_test_app(pair.url("primary"), tmp_path_factory.mktemp("replica-app"),
                        SQLALCHEMY_BINDS={"replica": {"url": pair.url("replica"),
                                                      "connect_args": {"connect_timeout": 3}}},
                        LMS_REPLICA_MAX_LAG_SECONDS=600.0, LMS_REPLICA_STICKY_SECONDS=5,
                        LMS_METRICS_TOKEN=TOKEN)
    build_database(app, packages=(CODE,))
    with app.test_request_context():
        accounts.create_person(None, accounts.PersonData(
            real_name="复制测试学员", id_number=id_number("32010219900101777"), password=TEST_PASSWORD,
            mobile=MOBILE, email=None, region_code="110000", employer_name=None,
            employer_credit_code=None), roles=(Role.LEARNER,))
        db.session.commit()
    yield app


@pytest.fixture
def title(pair, app):
    """Pause the replica's replay, then set the course's title on the primary; resumes at the end."""
    pair.caught_up()
    original = pair.sql("primary", "SELECT title FROM course WHERE code = %s", CODE)[0][0]
    pair.sql("replica", "SELECT pg_wal_replay_pause()")

    def change(new: str) -> tuple[str, str]:
        pair.sql("primary", "UPDATE course SET title = %s WHERE code = %s", new, CODE)
        return original, new

    yield change
    pair.sql("replica", "SELECT pg_wal_replay_resume()")
    pair.sql("primary", "UPDATE course SET title = %s WHERE code = %s", original, CODE)
    pair.caught_up()


def _forget_state(app) -> None:
    """Make the next read check the replica again instead of waiting for the check interval."""
    with app.app_context():
        replica._state().checked = float("-inf")


def _shown(client, path=f"/courses/{CODE}") -> str:
    answer = client.get(path)
    assert answer.status_code == 200, answer.status_code
    return answer.get_data(as_text=True)


def test_marked_pages_read_the_replica_and_a_writer_reads_its_writes(app, title):
    old, new = title("复制延迟测试：新标题")
    _forget_state(app)
    client = app.test_client()
    assert old in _shown(client) and new not in _shown(client)  # the paused replica's copy
    assert new not in _shown(client, f"/courses?q={CODE}")
    # A write (signing in records a login session) sends this browser's reads to the primary.
    token = _csrf_token(client.get("/login").get_data(as_text=True))
    signed_in = client.post("/login", data={"login": MOBILE, "password": TEST_PASSWORD, "csrf_token": token})
    assert signed_in.status_code == 302
    assert any(h.startswith(f"{replica.COOKIE}=1;") and "Max-Age=5" in h
               for h in signed_in.headers.getlist("Set-Cookie"))
    assert new in _shown(client)
    client.delete_cookie(replica.COOKIE)  # the cookie expired: back to the replica
    assert old in _shown(client)
    # A page that is not marked always reads the primary.
    other = app.test_client()
    assert old in _shown(other)


def test_a_lagging_replica_is_left_for_the_primary(app, title):
    _old, new = title("复制延迟测试：超出延迟上限")
    time.sleep(1.5)  # the replica now lags by at least this much (its replay is paused)
    app.config["LMS_REPLICA_MAX_LAG_SECONDS"] = 1.0
    try:
        _forget_state(app)
        client = app.test_client()
        assert new in _shown(client)  # from the primary: the replica is too far behind
        ready = client.get("/readyz", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
        assert ready["checks"]["replica"]["status"] == "degraded" and ready["checks"]["replica"]["lag_seconds"] > 1
        assert ready["status"] == "degraded" and client.get("/healthz").status_code == 200
    finally:
        app.config["LMS_REPLICA_MAX_LAG_SECONDS"] = 600.0


def test_a_stopped_replica_fails_no_page_and_reads_return_when_it_is_back(app, pair):
    client = app.test_client()
    _forget_state(app)
    assert CODE in _shown(client)  # a pooled connection to the replica now exists
    pair.stop_replica()
    try:
        # The state was just checked (ok): the first read finds the replica gone and the page is
        # served again from the primary, not failed.
        for path in (f"/courses/{CODE}", "/courses", "/", f"/search?q={CODE}"):
            assert client.get(path).status_code == 200, path
        ready = client.get("/readyz", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ready.status_code == 200 and ready.get_json()["checks"]["replica"]["status"] == "degraded"
        assert client.get("/healthz").status_code == 200
    finally:
        pair.start_replica()
    pair.caught_up()
    _forget_state(app)
    ready = client.get("/readyz", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert ready["checks"]["replica"]["status"] == "ok"
    # Reads go to it again: with its replay paused, a change on the primary is not seen.
    pair.sql("replica", "SELECT pg_wal_replay_pause()")
    try:
        original = pair.sql("primary", "SELECT title FROM course WHERE code = %s", CODE)[0][0]
        pair.sql("primary", "UPDATE course SET title = %s WHERE code = %s", "复制恢复测试", CODE)
        _forget_state(app)
        assert original in _shown(client) and "复制恢复测试" not in _shown(client)
    finally:
        pair.sql("replica", "SELECT pg_wal_replay_resume()")
        pair.sql("primary", "UPDATE course SET title = %s WHERE code = %s", original, CODE)


def test_a_server_that_is_no_replica_is_not_read_from(pair, tmp_path):
    """DATABASE_REPLICA_URL naming the primary by mistake: reported, and reads stay on the primary."""
    other = make_test_app(pair.url("primary"), tmp_path, SQLALCHEMY_BINDS={"replica": pair.url("primary")})
    with other.app_context():
        lag, error = replica.measure()
        assert not replica.usable()
    assert lag is None and "not in recovery" in error
