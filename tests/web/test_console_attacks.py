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


@pytest.mark.parametrize("kind", ["disable_each_other", "revoke_self_and_disable_other", "both_revoke_self",
                                  "both_disable_a_third", "both_revoke_a_thirds_role"])
def test_two_admins_racing_never_leave_the_platform_without_one(server, kind, monkeypatch):
    base, app = server
    session_per_thread(app, monkeypatch)  # the setup's writes are committed, for the server to see
    for _round in range(3):
        a, b, *c = _admins(app, 3 if kind.endswith(("third", "thirds_role")) else 2)
        _, _, grants = _state(app, [a, b, *c])
        ca, cb = _signed_in(base, app, a), _signed_in(base, app, b)
        try:
            if kind == "disable_each_other":
                sends = [_post(ca, f"/admin/people/{b}/disable", f"/admin/people/{b}"),
                         _post(cb, f"/admin/people/{a}/disable", f"/admin/people/{a}")]
            elif kind == "revoke_self_and_disable_other":
                ca2 = _signed_in(base, app, a)  # the same admin in a second tab
                sends = [_post(ca, f"/admin/people/{a}/roles/{grants[a]}/revoke", f"/admin/people/{a}"),
                         _post(ca2, f"/admin/people/{b}/disable", f"/admin/people/{b}")]
            elif kind == "both_revoke_a_thirds_role":
                path = f"/admin/people/{c[0]}/roles/{grants[c[0]]}/revoke"
                sends = [_post(ca, path, f"/admin/people/{c[0]}"), _post(cb, path, f"/admin/people/{c[0]}")]
            elif kind == "both_disable_a_third":
                sends = [_post(ca, f"/admin/people/{c[0]}/disable", f"/admin/people/{c[0]}"),
                         _post(cb, f"/admin/people/{c[0]}/disable", f"/admin/people/{c[0]}")]
            else:
                sends = [_post(ca, f"/admin/people/{a}/roles/{grants[a]}/revoke", f"/admin/people/{a}"),
                         _post(cb, f"/admin/people/{b}/roles/{grants[b]}/revoke", f"/admin/people/{b}")]
            responses = _race(*sends)
        finally:
            ca.close()
            cb.close()
        assert all(r is not None and r.status_code < 500 for r in responses), [r and r.status_code for r in responses]
        enabled, events, _ = _state(app, [a, b, *c])
        assert enabled, f"{kind}: no enabled admin left ({[r.status_code for r in responses]})"
        done = [r for r in responses if r.status_code == 303]
        assert len(done) == 1, [r.status_code for r in responses]
        assert events == 1  # one change, one audit entry
        refused = next(r for r in responses if r.status_code != 303)
        assert refused.status_code in (302, 403, 404, 409)  # signed out, no longer an admin, gone, or refused
        if refused.status_code == 409:
            assert ("已是停用状态" if kind == "both_disable_a_third" else "平台将没有可用的管理员账号") in refused.text
        if refused.status_code == 404:
            assert "它可能已被撤销" in refused.text


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


# ---------------------------------------------------------------- the console: admins only, CSRF, audit


def _console_urls(user_id: int, grant_id: int) -> tuple[list, list]:
    gets = ["/admin/people", f"/admin/people/{user_id}", "/admin/audit", "/admin/audit/export?format=csv",
            "/admin/audit/export?format=xlsx", "/admin/search/terms", "/notices/manage", "/notices/new"]
    posts = [(f"/admin/people/{user_id}/roles", {"grant-role": "admin", "grant-reason": "提权尝试"}),
             (f"/admin/people/{user_id}/roles/{grant_id}/revoke", {"reason": "撤销尝试"}),
             (f"/admin/people/{user_id}/disable", {"reason": "停用尝试"}),
             (f"/admin/people/{user_id}/enable", {"reason": "启用尝试"}),
             (f"/admin/people/{user_id}/exams/1/reset", {"reason": "重置尝试"}),
             ("/admin/search/terms", {"term": "攻击词", "synonyms": "x"}),
             ("/admin/search/terms/delete", {"term_id": "1"})]
    return gets, posts


def _events(db_session) -> int:
    return db_session.scalar(select(func.count(AuditEvent.id)))


@pytest.mark.parametrize("who", ["anonymous", "learner", "hr_auditor", "publisher", "unit_admin", "reviewer"])
def test_every_console_route_refuses_anyone_but_an_admin(client, login, make_user, admin, csrf_token, db_session, who):
    victim = make_user(roles=(Role.LEARNER, Role.ADMIN), real_name="被攻击者")
    grant = next(g for g in victim.role_grants if g.role == Role.ADMIN)
    gets, posts = _console_urls(victim.id, grant.id)
    if who != "anonymous":
        kw = {"region_code": "110000"} if who == "hr_auditor" else {}
        if who in ("publisher", "unit_admin"):
            from lms.accounts.models import Organization, OrgKind

            kind = OrgKind.PUBLISHER if who == "publisher" else OrgKind.EMPLOYER
            organization = Organization(name=f"越权测试机构-{kind}", kind=kind)
            db_session.add(organization)
            db_session.commit()
            kw = {"organization": organization}
        login(make_user(roles=(Role(who),), real_name="越权者", **kw))
    token = csrf_token(client.get("/notices").text) if who != "anonymous" else ""
    before = _events(db_session)
    for url in gets:
        if who == "hr_auditor" and url.startswith("/notices"):
            continue  # theirs to use
        got = client.get(url)
        assert got.status_code == (302 if who == "anonymous" else 403), (url, got.status_code)
        assert "被攻击者" not in got.text and "审计日志" not in got.text[got.text.find("<main"):] or got.status_code == 302
    for url, data in posts:
        got = client.post(url, data={**data, "csrf_token": token})
        assert got.status_code in ((302, 400) if who == "anonymous" else (403,)), (url, got.status_code)
    db_session.expire_all()
    assert victim.is_active_account and victim.has_role(Role.ADMIN)
    assert _events(db_session) == before


def test_a_console_post_without_its_csrf_token_changes_nothing(client, login, make_user, admin, db_session):
    victim = make_user(roles=(Role.LEARNER, Role.ADMIN), real_name="被攻击者")
    grant = next(g for g in victim.role_grants if g.role == Role.ADMIN)
    _gets, posts = _console_urls(victim.id, grant.id)
    notice = _notice(db_session, admin, None)
    posts += [("/notices/new", {"title": "伪造通知", "body": "正文", "region_code": ""}),
              (f"/notices/{notice.id}/edit", {"title": "伪造通知", "body": "正文", "region_code": ""}),
              (f"/notices/{notice.id}/withdraw", {}), ("/notices/read-all", {})]
    login(admin)
    before = _events(db_session)
    for url, data in posts:
        for token in (None, "forged-token"):
            sent = client.post(url, data=data if token is None else {**data, "csrf_token": token},
                               headers={"Origin": "https://evil.example"})
            assert sent.status_code == 400, (url, sent.status_code)
    db_session.expire_all()
    assert victim.is_active_account and victim.has_role(Role.ADMIN) and notice.withdrawn_at is None
    assert notice.title == "通知" and _events(db_session) == before


def test_every_console_action_writes_one_audit_entry(client, login, make_user, admin, csrf_token, db_session):
    from lms.search.models import SearchTerm

    person = make_user(real_name="张三")
    login(admin)
    page = f"/admin/people/{person.id}"
    before = _events(db_session)

    def post(url, **data):
        token = csrf_token(client.get(page).text)
        return client.post(url, data={"csrf_token": token, **data})

    assert post(f"{page}/roles", **{"grant-role": "hr_auditor", "grant-region_code": "110000",
                                    "grant-reason": "负责北京审核"}).status_code == 303
    db_session.expire_all()
    grant = next(g for g in person.role_grants if g.role == Role.HR_AUDITOR)
    assert post(f"{page}/roles/{grant.id}/revoke", reason="岗位调整").status_code == 303
    assert post(f"{page}/disable", reason="本人申请").status_code == 303
    assert post(f"{page}/enable", reason="已核实身份").status_code == 303
    assert client.get("/admin/audit/export?format=csv").status_code == 200
    assert client.get("/admin/audit/export?format=xlsx").status_code == 200
    token = csrf_token(client.get("/admin/search/terms").text)
    assert client.post("/admin/search/terms", data={"csrf_token": token, "term": "公需课",
                                                    "synonyms": "公需科目"}).status_code == 302
    term = db_session.scalar(select(SearchTerm).where(SearchTerm.term == "公需课"))
    token = csrf_token(client.get("/admin/search/terms").text)
    assert client.post("/admin/search/terms/delete", data={"csrf_token": token,
                                                           "term_id": str(term.id)}).status_code == 302
    # Refused actions change nothing and write nothing.
    assert post(f"{page}/disable", reason="x").status_code == 400
    assert post(f"/admin/people/{admin.id}/disable", reason="停用自己").status_code == 409
    actions = list(db_session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == admin.id)
                                      .order_by(AuditEvent.id)))[-8:]
    assert _events(db_session) - before == 8
    assert actions == ["role.granted", "role.revoked", "user.disabled", "user.enabled", "audit.exported",
                       "audit.exported", "search.term_saved", "search.term_deleted"]


# ---------------------------------------------------------------- the audit export: formulas stay text


FORMULAS = ["=HYPERLINK(\"http://evil\",\"点我\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,2)"]


def test_the_audit_export_keeps_formulas_as_text(client, login, make_user, admin, csrf_token, db_session):
    people = [make_user(real_name=name[:30]) for name in FORMULAS]
    login(admin)
    for person, reason in zip(people, FORMULAS, strict=True):
        token = csrf_token(client.get(f"/admin/people/{person.id}").text)
        assert client.post(f"/admin/people/{person.id}/disable",
                           data={"csrf_token": token, "reason": reason}).status_code == 303
    exported = client.get("/admin/audit/export?format=csv&action=user.disabled")
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    cells = [c for row in rows[1:] for c in row]
    assert len(rows) - 1 >= len(FORMULAS)
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert any(c.startswith("'=HYPERLINK") for c in cells)  # the person's name, kept and made inert
    book = zipfile.ZipFile(io.BytesIO(client.get("/admin/audit/export?format=xlsx&action=user.disabled").data))
    sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "<f " not in sheet  # no formula cells: every name and reason is a string
    strings = book.read("xl/sharedStrings.xml").decode() if "xl/sharedStrings.xml" in book.namelist() else sheet
    assert "=HYPERLINK" in strings.replace("&quot;", '"')


# ---------------------------------------------------------------- ID numbers: masked, and no lookup for others


def test_id_numbers_stay_masked_and_cannot_be_looked_up_by_others(client, client_factory, login, make_user, admin,
                                                                  db_session):
    full = id_number("11010519850315123")
    person = make_user(real_name="隐私人", id_number=full)
    login(admin)
    found = client.get(f"/admin/people?q={full}")
    shown = re.sub(r'(value|action)="[^"]*"', "", found.text)  # what the admin typed stays in the forms
    assert "隐私人" in shown and full not in shown and person.id_number_masked in shown
    # The query string is in no log line (the access log names the path only), nor in a Referer sent away.
    assert found.headers.get("Referrer-Policy") in ("same-origin", "no-referrer", "strict-origin",
                                                    "strict-origin-when-cross-origin")
    assert full not in client.get(f"/admin/people/{person.id}").text
    token_page = client.get(f"/admin/people/{person.id}").text
    client.post(f"/admin/people/{person.id}/disable", data={"csrf_token": _csrf_token(token_page), "reason": "核查"})
    for fmt in ("csv", "xlsx"):
        assert full.encode() not in client.get(f"/admin/audit/export?format={fmt}").data
    assert full not in client.get("/admin/audit").text
    # Anyone else: the console refuses, and the public search knows no people.
    for who in (None, make_user(real_name="好奇者"), make_user(roles=(Role.HR_AUDITOR,), real_name="审核员",
                                                              region_code="110000")):
        other = client_factory()
        if who is not None:
            token = _csrf_token(other.get("/login").text)
            other.post("/login", data={"login": who.mobile, "password": TEST_PASSWORD, "csrf_token": token})
        assert other.get(f"/admin/people?q={full}").status_code in (302, 403)
        for url in (f"/search?q={full}", f"/search/suggest?q={full}", f"/search?q={full[-4:]}"):
            got = other.get(url)
            i = got.text.find("隐私人")
            assert i < 0, (url, got.text[max(0, i - 300):i + 100])


# ---------------------------------------------------------------- odd values in the URL


@pytest.mark.parametrize("query", ["since=0001-01-01", "until=9999-12-31", "since=0001-01-01&until=9999-12-31",
                                   "page=-5", "page=99999999999999999999", "since=2026-02-30", "who=%25",
                                   "target_id=' OR 1=1 --"])
def test_the_audit_log_answers_odd_filters_without_a_stack_trace(client, login, admin, query):
    login(admin)
    for url in (f"/admin/audit?{query}", f"/admin/audit/export?format=csv&{query}"):
        got = client.get(url)
        assert got.status_code in (200, 303, 400), (url, got.status_code)
    if "0001" in query or "9999-" in query:
        assert got.status_code == 303 and "年到" in client.get(got.headers["Location"]).text


@pytest.mark.parametrize("url", ["/admin/people/99999999999999999999", "/notices/99999999999999999999",
                                 "/notices/99999999999999999999/edit", "/admin/people/1/roles/99999999999999999999/revoke"])
def test_ids_too_big_for_the_database_are_not_found(client, login, admin, csrf_token, url):
    login(admin)
    got = client.get(url) if not url.endswith("revoke") else client.post(
        url, data={"csrf_token": csrf_token(client.get("/admin/people").text), "reason": "超大编号"})
    assert got.status_code == 404, got.status_code


def test_an_admin_cannot_reach_one_persons_grant_or_exam_through_anothers_page(client, login, make_user, admin,
                                                                               csrf_token, db_session):
    holder, bystander = make_user(roles=(Role.LEARNER, Role.ADMIN), real_name="持有人"), make_user(real_name="旁人")
    grant = next(g for g in holder.role_grants if g.role == Role.ADMIN)
    login(admin)
    token = csrf_token(client.get(f"/admin/people/{bystander.id}").text)
    before = _events(db_session)
    assert client.post(f"/admin/people/{bystander.id}/roles/{grant.id}/revoke",
                       data={"csrf_token": token, "reason": "借道撤销"}).status_code == 404
    sent = client.post(f"/admin/people/{bystander.id}/roles", data={
        "csrf_token": token, "grant-role": "hr_auditor", "grant-region_code": "999999", "grant-reason": "不存在的地区"})
    assert sent.status_code in (400, 404) and "999999" in sent.text
    sent = client.post(f"/admin/people/{bystander.id}/roles", data={
        "csrf_token": token, "grant-role": "superuser", "grant-reason": "不存在的角色"})
    assert sent.status_code == 400 and "请选择要授予的角色" in sent.text
    db_session.expire_all()
    assert holder.has_role(Role.ADMIN) and bystander.roles == [Role.LEARNER] and _events(db_session) == before


def test_each_notice_change_writes_one_audit_entry_and_the_manage_list_is_the_auditors_own(
        client, login, admin, auditor, csrf_token, db_session):
    _notice(db_session, admin, "440000", title="广东专属通知")
    _notice(db_session, admin, None, title="全国专属通知")
    login(auditor)
    before = _events(db_session)
    sent = _form(client, csrf_token, "/notices/new", title="北京新通知")
    assert sent.status_code == 303
    notice_id = int(sent.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    assert _form(client, csrf_token, f"/notices/{notice_id}/edit", title="北京新通知（改）").status_code == 303
    token = csrf_token(client.get("/notices/manage").text)
    for _ in range(2):  # the second withdrawal changes nothing, and logs nothing
        assert client.post(f"/notices/{notice_id}/withdraw", data={"csrf_token": token}).status_code in (302, 303)
    actions = list(db_session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == auditor.id)
                                      .order_by(AuditEvent.id)))
    assert _events(db_session) - before == 3 and actions[-3:] == ["notice.published", "notice.updated", "notice.withdrawn"]
    managed = client.get("/notices/manage").text
    assert "北京新通知" in managed and "广东专属通知" not in managed and "全国专属通知" not in managed


# ---------------------------------------------------------------- the search dictionary: parallel edits


def test_admins_adding_the_same_term_at_once_make_one_row_and_a_generation_each(server, monkeypatch):
    from lms.search.models import SearchDictionaryGeneration, SearchTerm

    base, app = server
    session_per_thread(app, monkeypatch)
    a, b, c = _admins(app, 3)
    clients = [_signed_in(base, app, admin) for admin in (a, b, c)]
    with app.app_context():
        before = db.session.scalar(select(SearchDictionaryGeneration.generation)) or 0
        db.session.remove()
    try:
        sends = [_post(cl, "/admin/search/terms", "/admin/search/terms", term="并发新词", synonyms=f"同义{i}")
                 for i, cl in enumerate(clients)]
        responses = _race(*sends)
    finally:
        for cl in clients:
            cl.close()
    codes = sorted(r.status_code for r in responses)
    assert codes == [302, 409, 409], codes  # one saved, the others told it is there (no 500)
    assert all("已在词典中" in r.text for r in responses if r.status_code == 409)
    with app.app_context():
        assert db.session.scalar(select(func.count(SearchTerm.id)).where(SearchTerm.term == "并发新词")) == 1
        assert db.session.scalar(select(SearchDictionaryGeneration.generation)) == before + 1
        db.session.remove()
