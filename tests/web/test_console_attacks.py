"""Attacks on the notices (/notices) and the admin console (/admin, /admin/search/terms), as an
outsider and as a malicious insider would make them.

The last-admin races run against a real multi-threaded server process (tests/app_process.py) on
the database under test (run the file with LMS_TEST_DATABASE=postgresql too); the rest use the test
client, where real concurrency is not needed. Rendered HTML is read with a real parser.
"""

import os
import threading

import httpx
import pytest
from sqlalchemy import delete, func, select

from lms.accounts.models import Role, RoleGrant, User
from lms.core.audit import AuditEvent
from lms.extensions import db
from tests import app_process
from tests.conftest import (
    TEST_PASSWORD,
    _csrf_token,
    build_database,
    credit_code,
    fresh_database,
    id_number,
    make_test_app,
    session_per_thread,
)

# ---------------------------------------------------------------- a real server for the races


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(base URL, the app that reaches the same database) of a threaded server process."""
    tmp = tmp_path_factory.mktemp("console-attacks")
    instance = os.environ.get("LMS_INSTANCE_PATH")
    with fresh_database(tmp, "console") as url:
        built = make_test_app(url, tmp)
        build_database(built)
        port = app_process.free_port()
        process = app_process.start({"database_url": url, "tmp_dir": str(tmp),
                                     "LMS_LOGIN_RATE_LIMIT": "1000 per minute"}, port, tmp / "server.log")
        try:
            yield f"http://127.0.0.1:{port}", built
        finally:
            app_process.stop(process)
            with built.app_context():
                db.engine.dispose()
            if instance is not None:
                os.environ["LMS_INSTANCE_PATH"] = instance


_serial = iter(range(100, 10_000))


def _admins(app, count: int) -> list[int]:
    """Take the admin role from everyone, then make ``count`` new enabled admins; their ids."""
    from lms.accounts import services

    ids = []
    with app.test_request_context():
        db.session.execute(delete(RoleGrant).where(RoleGrant.role == Role.ADMIN))
        for _ in range(count):
            n = next(_serial)
            user = services.create_person(None, services.PersonData(
                real_name=f"管理员{n}", id_number=id_number(f"11010519800101{n:03d}"[:17]), password=TEST_PASSWORD,
                mobile=f"137{n:08d}", region_code="110000", employer_name="人社厅",
                employer_credit_code=credit_code("11110000MB0000000")), roles=())
            services.grant_role(None, user, Role.ADMIN)
            ids.append(user.id)
        db.session.commit()
        db.session.remove()
    return ids


def _signed_in(base: str, app, user_id: int) -> httpx.Client:
    with app.app_context():
        mobile = db.session.get(User, user_id).mobile
        db.session.remove()
    client = httpx.Client(base_url=base, timeout=60)
    token = _csrf_token(client.get("/login").text)
    response = client.post("/login", data={"login": mobile, "password": TEST_PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.text
    return client


def _race(*requests):
    """Send the requests at the same moment, each from its own thread; their responses."""
    barrier = threading.Barrier(len(requests))
    results = [None] * len(requests)

    def run(i, send):
        barrier.wait()
        results[i] = send()

    threads = [threading.Thread(target=run, args=(i, send)) for i, send in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return results


def _post(client: httpx.Client, path: str, page: str, **data):
    token = _csrf_token(client.get(page).text)
    return lambda: client.post(path, data={"csrf_token": token, "reason": "并发测试", **data})


def _state(app, ids):
    with app.app_context():
        enabled = set(db.session.scalars(
            select(User.id).join(RoleGrant, RoleGrant.user_id == User.id)
            .where(RoleGrant.role == Role.ADMIN, User.is_active_account.is_(True))))
        events = db.session.scalar(select(func.count(AuditEvent.id)).where(
            AuditEvent.action.in_(["user.disabled", "role.revoked"]),
            AuditEvent.target_id.in_([str(i) for i in ids])))
        grant_ids = {i: db.session.scalar(select(RoleGrant.id).where(RoleGrant.user_id == i,
                                                                     RoleGrant.role == Role.ADMIN)) for i in ids}
        db.session.remove()
    return enabled, events, grant_ids


@pytest.mark.parametrize("kind", ["disable_each_other", "revoke_self_and_disable_other", "both_revoke_self"])
def test_two_admins_racing_never_leave_the_platform_without_one(server, kind, monkeypatch):
    base, app = server
    session_per_thread(app, monkeypatch)  # the setup's writes are committed, for the server to see
    for _round in range(3):
        a, b = _admins(app, 2)
        _, _, grants = _state(app, [a, b])
        ca, cb = _signed_in(base, app, a), _signed_in(base, app, b)
        try:
            if kind == "disable_each_other":
                sends = [_post(ca, f"/admin/people/{b}/disable", f"/admin/people/{b}"),
                         _post(cb, f"/admin/people/{a}/disable", f"/admin/people/{a}")]
            elif kind == "revoke_self_and_disable_other":
                ca2 = _signed_in(base, app, a)  # the same admin in a second tab
                sends = [_post(ca, f"/admin/people/{a}/roles/{grants[a]}/revoke", f"/admin/people/{a}"),
                         _post(ca2, f"/admin/people/{b}/disable", f"/admin/people/{b}")]
            else:
                sends = [_post(ca, f"/admin/people/{a}/roles/{grants[a]}/revoke", f"/admin/people/{a}"),
                         _post(cb, f"/admin/people/{b}/roles/{grants[b]}/revoke", f"/admin/people/{b}")]
            responses = _race(*sends)
        finally:
            ca.close()
            cb.close()
        assert all(r is not None and r.status_code < 500 for r in responses), [r and r.status_code for r in responses]
        enabled, events, _ = _state(app, [a, b])
        assert enabled, f"{kind}: no enabled admin left ({[r.status_code for r in responses]})"
        done = [r for r in responses if r.status_code == 303]
        assert len(done) == 1, [r.status_code for r in responses]
        assert events == 1  # one change, one audit entry
        refused = next(r for r in responses if r.status_code != 303)
        assert refused.status_code in (302, 403, 409)  # signed out, no longer an admin, or refused
        if refused.status_code == 409:
            assert "平台将没有可用的管理员账号" in refused.text
