"""Attacks on the notices (/notices) and the admin console (/admin, /admin/search/terms), as an
outsider and as a malicious insider would make them.

The last-admin races run against a real multi-threaded server process (tests/app_process.py) on
the database under test (run the file with LMS_TEST_DATABASE=postgresql too); the rest use the test
client, where real concurrency is not needed. Rendered HTML is read with a real parser.
"""

import csv
import io
import os
import re
import threading
import zipfile
from datetime import date, timedelta
from html.parser import HTMLParser

import httpx
import pytest
from sqlalchemy import delete, func, select

from lms.accounts.models import Role, RoleGrant, User
from lms.core.audit import AuditEvent
from lms.extensions import db
from lms.notices.models import Notice, NoticeRead
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


# ---------------------------------------------------------------- notices: whose region


@pytest.fixture
def admin(make_user):
    return make_user(roles=(Role.ADMIN,), real_name="管理员甲")


@pytest.fixture
def auditor(make_user):
    return make_user(roles=(Role.HR_AUDITOR,), real_name="京审", region_code="110000")


def _notice(db_session, admin, region, **kw) -> Notice:
    notice = Notice(title=kw.pop("title", "通知"), body="正文", region_code=region, starts_on=date.today() - timedelta(days=1),
                    author_id=admin.id, **kw)
    db_session.add(notice)
    db_session.commit()
    return notice


def _form(client, csrf_token, path, **fields):
    token = csrf_token(client.get(path).get_data(as_text=True))
    data = {"title": "本地区通知", "body": "正文", "region_code": "110000", "csrf_token": token, **fields}
    return client.post(path, data=data)


def test_an_auditor_cannot_publish_edit_or_withdraw_outside_their_region(client, login, admin, auditor, csrf_token,
                                                                          db_session):
    other = _notice(db_session, admin, "440000", title="广东通知")
    nationwide = _notice(db_session, admin, None, title="全国通知")
    own = _notice(db_session, admin, "110000", title="北京通知")
    login(auditor)
    token = csrf_token(client.get("/notices/manage").get_data(as_text=True))
    for target in (other, nationwide):
        assert client.get(f"/notices/{target.id}/edit").status_code == 403
        assert client.post(f"/notices/{target.id}/edit", data={"title": "改掉", "body": "改掉", "region_code": "110000",
                                                               "csrf_token": token}).status_code == 403
        assert client.post(f"/notices/{target.id}/withdraw", data={"csrf_token": token}).status_code == 403
    before = db_session.scalar(select(func.count(Notice.id)))
    for region in ("440000", "", "999999"):  # another region in the select, nationwide, one that is none
        sent = _form(client, csrf_token, "/notices/new", region_code=region)
        assert sent.status_code in (400, 403) and ("只能发布" in sent.text or "平台管理员" in sent.text
                                                   or "不存在" in sent.text), region
    # Moving their own notice to another region, and fields the form does not have.
    moved = _form(client, csrf_token, f"/notices/{own.id}/edit", region_code="440000")
    assert moved.status_code == 403
    sent = _form(client, csrf_token, f"/notices/{own.id}/edit", title="北京通知（更新）", author_id=str(admin.id),
                 withdrawn_at="2020-01-01", id="1", created_at="2000-01-01")
    assert sent.status_code == 303
    assert db_session.scalar(select(func.count(Notice.id))) == before
    for n in (other, nationwide, own):
        db_session.refresh(n)
    assert (other.title, other.withdrawn_at, nationwide.title, nationwide.withdrawn_at) == ("广东通知", None, "全国通知", None)
    assert (own.title, own.region_code, own.author_id, own.withdrawn_at) == ("北京通知（更新）", "110000", admin.id, None)
    assert own.created_at.year > 2000
    assert client.get(f"/notices/{nationwide.id}").status_code == 200  # reading is open, editing is not
    assert "编辑" not in client.get(f"/notices/{other.id}").text


def test_a_withdrawn_notice_of_another_region_is_not_found_by_its_id(client, login, admin, auditor, db_session):
    from lms.core.clock import utcnow_naive

    hidden = _notice(db_session, admin, "440000", withdrawn_at=utcnow_naive())
    login(auditor)
    assert client.get(f"/notices/{hidden.id}").status_code == 404


# ---------------------------------------------------------------- notices: no script in any form


class _Active(HTMLParser):
    """What in a page could run: script elements, handlers, script/data URLs, style."""

    BAD_TAGS = {"script", "iframe", "object", "embed", "svg", "math", "style", "form", "base", "link", "meta"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found, self.depth = [], 0

    def handle_starttag(self, tag, attrs):
        if tag == "div" and ("class", "notice-body") in attrs:
            self.depth = 1
            return
        if not self.depth:
            return
        if tag == "div":
            self.depth += 1
        if tag in self.BAD_TAGS:
            self.found.append(tag)
        for name, value in attrs:
            url = re.sub(r"[\x00-\x20]", "", value or "").lower()
            if name.startswith("on") or name == "style" or name in ("href", "src", "action", "formaction") and (
                    url.startswith(("javascript:", "vbscript:", "data:text", "data:image/svg"))):
                self.found.append(f"{tag} {name}={value}")

    def handle_endtag(self, tag):
        if self.depth and tag == "div":
            self.depth -= 1


PAYLOADS = [
    "[点此](javascript:alert(1))", "[点此](JaVaScRiPt:alert(1))", "[点此](java&#115;cript:alert(1))",
    "[点此](&#106;&#97;vascript:alert(1))", "[点此](javascript&colon;alert(1))", "[点此](  javascript:alert(1) )",
    "[点此](java%73cript:alert(1))", "[点此](vbscript:msgbox(1))",
    "[点此](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)", "[点此](DATA:text/html,<b>x</b>)",
    "![图](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)", "[点此][r]\n\n[r]: javascript:alert(1)",
    "[点此][r]\n\n[r]: java&#x73;cript:alert(1)", "<javascript:alert(1)>", "<data:text/html,x>",
    "<svg onload=alert(1)>", "<SvG/OnLoAd=alert(1)>", "<math><mi xlink:href=javascript:alert(1)>x</mi></math>",
    "<img src=x onerror=alert(1)>", "<IMG SRC=x OnError=alert(1)>", "<a href=\"jav&#x09;ascript:alert(1)\">x</a>",
    "<div style=\"background:url(javascript:alert(1))\">x</div>", "<p style=\"background-image:url('//evil')\">x</p>",
    "&lt;script&gt;alert(1)&lt;/script&gt;", "<scr<script>ipt>alert(1)</script>",
    "[点此](https://example.com \"\\\" onmouseover=alert(1) x=\\\"\")", "`<script>alert(1)</script>`",
    "    <script>alert(1)</script>", "<details open ontoggle=alert(1)>", "<!--><script>alert(1)</script>-->",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_notice_body_never_carries_script(client, login, admin, csrf_token, db_session, payload):
    login(admin)
    sent = _form(client, csrf_token, "/notices/new", body=f"请阅读。\n\n{payload}\n", region_code="")
    assert sent.status_code in (303, 400), sent.status_code
    if sent.status_code == 400:
        assert "脚本或网页代码" in sent.text or "链接" in sent.text
        return
    page = client.get(sent.headers["Location"])
    parser = _Active()
    parser.feed(page.text)
    assert parser.found == [], page.text[page.text.find("notice-body"):][:400]
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "object-src 'none'" in csp


def test_a_notice_title_is_text(client, login, admin, csrf_token):
    login(admin)
    sent = _form(client, csrf_token, "/notices/new", title="<img src=x onerror=alert(1)>通知", region_code="")
    assert sent.status_code == 400 and "脚本或网页代码" in sent.text


# ---------------------------------------------------------------- notices: dates


@pytest.mark.parametrize(("fields", "message"), [
    ({"starts_on": "2026-12-10", "ends_on": "2026-12-01"}, "结束日期不能早于开始日期"),
    ({"starts_on": "2040-01-01"}, "开始显示日期"),
    ({"ends_on": "9999-12-31"}, "停止显示日期"),
    ({"starts_on": "2026-13-45"}, "日期"),
])
def test_dates_out_of_order_far_off_or_not_dates_are_refused_with_the_reason(client, login, admin, csrf_token,
                                                                             db_session, fields, message):
    login(admin)
    before = db_session.scalar(select(func.count(Notice.id)))
    sent = _form(client, csrf_token, "/notices/new", region_code="", **fields)
    assert sent.status_code == 400
    assert message in sent.text
    assert "Not a valid" not in sent.text and "Traceback" not in sent.text
    assert db_session.scalar(select(func.count(Notice.id))) == before


# ---------------------------------------------------------------- notices: unread marks are one's own


def test_unread_marks_change_only_for_the_one_who_reads(app, client, client_factory, login, make_user, admin,
                                                        csrf_token, db_session):
    from lms.notices import services

    notices = [_notice(db_session, admin, None, title=f"通知{i}") for i in range(3)]
    mine, theirs = make_user(real_name="学员甲"), make_user(real_name="学员乙")
    login(mine)
    other = client_factory()
    assert other.post("/notices/read-all").status_code in (302, 400, 401)  # not signed in: nothing to mark
    token = csrf_token(client.get("/notices").text)
    assert client.post("/notices/read-all", data={}).status_code == 400  # no CSRF token
    assert db_session.scalar(select(func.count(NoticeRead.id))) == 0
    client.get(f"/notices/{notices[0].id}?user_id={theirs.id}")
    client.post("/notices/read-all", data={"csrf_token": token, "user_id": str(theirs.id)})
    with app.test_request_context():
        assert services.unread_count(theirs) == 3 and services.unread_count(mine) == 0
    assert set(db_session.scalars(select(NoticeRead.user_id))) == {mine.id}
    # Opening marks read (a GET); another site's <img> cannot do it as the reader: no cookie goes with it.
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax" and app.config["REMEMBER_COOKIE_SAMESITE"] == "Lax"
