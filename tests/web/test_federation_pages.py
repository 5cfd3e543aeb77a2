"""The courseware feed and subscriptions in one process: the feed as the OpenAPI document describes
it, archives only for tokens, the admin pages (bad input changes nothing and says why), entry
verification, key rollover, the fetch rules (same origin, no private addresses unless allowed, size
caps) and the trust list. Remote feeds are served by an httpx mock transport; the test with two real
instances is tests/web/test_federation_instances.py."""

import hashlib
import json
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
import yaml
from openapi_schema_validator import OAS30Validator
from sqlalchemy import func, select

from lms.accounts.models import Role
from lms.api.v1 import OPENAPI_FILE
from lms.core.audit import AuditEvent
from lms.federation import remote, services, subscriptions
from lms.federation.models import CourseOrigin, FeedEntry, FeedSubscription, SharedCourse

FEED = "http://hub.example.cn/federation/courses"


@pytest.fixture
def admin(make_user):
    return make_user(roles=(Role.ADMIN,), real_name="平台管理员")


@pytest.fixture
def shared(app, db_session, admin):
    """GX-DT-002 shared by the admin, and a subscriber token: (share, secret)."""
    with app.test_request_context():
        share = services.share_course(admin, "GX-DT-002")
        _token, secret = services.issue_token(admin, "江苏省平台")
        db_session.commit()
    return share, secret


def _schema(name: str) -> OAS30Validator:
    document = yaml.safe_load(OPENAPI_FILE.read_text(encoding="utf-8"))
    return OAS30Validator({"$ref": f"#/components/schemas/{name}", "components": document["components"]})


# ---------------------------------------------------------------- the feed (hub side)

def test_the_feed_is_signed_paged_and_as_documented(app, client, shared):
    body = client.get("/federation/courses").get_json()
    _schema("CourseFeed").validate(body)
    assert [entry["code"] for entry in body["entries"]] == ["GX-DT-002"] and body["next"] is None
    keys = {key["kid"]: key for key in client.get("/.well-known/jwks.json").get_json()["keys"]}
    entry = body["entries"][0]
    kid = jwt.get_unverified_header(entry["jws"])["kid"]
    claims = jwt.decode(entry["jws"], jwt.PyJWK(keys[kid]).key, algorithms=["EdDSA"])
    _schema("FeedEntryClaims").validate(claims)
    assert claims["code"] == "GX-DT-002" and claims["version"] == 1 and claims["category"] == "公需"
    # The archive: only with the token; its bytes are what the entry signed.
    path = urlsplit(claims["archive_url"]).path
    refused = client.get(path)
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "invalid_token"
    assert client.get(path, headers={"Authorization": "Bearer gxf_wrong"}).status_code == 401
    served = client.get(path, headers={"Authorization": f"Bearer {shared[1]}"})
    assert served.status_code == 200 and served.mimetype == "application/zip"
    data = served.get_data()
    assert len(data) == claims["size"] and hashlib.sha256(data).hexdigest() == claims["sha256"]


def test_updated_since_and_paging(app, client, shared, admin, db_session):
    with app.test_request_context():
        services.share_course(admin, "GX-NS-001")
        db_session.commit()
    first = client.get("/federation/courses?limit=1").get_json()
    assert len(first["entries"]) == 1 and first["next"]
    parts = urlsplit(first["next"])
    second = client.get(f"{parts.path}?{parts.query}").get_json()
    assert [e["code"] for e in first["entries"] + second["entries"]] == ["GX-DT-002", "GX-NS-001"]
    assert second["next"] is None
    later = client.get("/federation/courses", query_string={"updated_since": first["entries"][0]["updated_at"]})
    assert [e["code"] for e in later.get_json()["entries"]] == ["GX-NS-001"]


@pytest.mark.parametrize(("query", "parameter"), [
    ({"updated_since": "last week"}, "updated_since"), ({"limit": "0"}, "limit"), ({"limit": "many"}, "limit"),
    ({"cursor": "not-a-cursor"}, "cursor"), ({"since": "2026-01-01"}, "since"),
])
def test_bad_feed_parameters_are_named(client, query, parameter):
    response = client.get("/federation/courses", query_string=query)
    assert response.status_code == 400
    _schema("Error").validate(response.get_json())
    assert response.get_json()["error"]["parameter"] == parameter


def test_a_revoked_token_and_an_unshared_course_get_no_archive(app, client, shared, admin, db_session):
    share, secret = shared
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/federation/courses/GX-NS-001/1/package.zip", headers=headers).status_code == 404
    with app.test_request_context():
        token = services.token_for(f"Bearer {secret}")
        services.revoke_token(admin, token.id)
        db_session.commit()
    assert client.get("/federation/courses/GX-DT-002/1/package.zip", headers=headers).status_code == 401


def test_a_new_version_of_a_shared_course_gets_its_archive_from_the_worker(app, ctx, shared, db_session, make_user):
    from lms.catalog.models import Course
    from lms.federation.models import FeedArchive
    from lms.publishing import services as publishing

    current = db_session.scalar(select(Course).where(Course.code == "GX-DT-002"))
    publisher = make_user(roles=(Role.PUBLISHER,), organization=current.publisher)
    draft = publishing.new_version(publisher, current)
    publishing.submit_course(publisher, draft)
    publishing.approve_course(make_user(roles=(Role.REVIEWER,)), draft)
    db_session.commit()
    assert db_session.scalar(select(FeedArchive).where(FeedArchive.course_id == draft.id)) is None  # not in the request
    assert services.feed_page(services.FeedQuery())["entries"] == []  # version 1 retired, version 2 not built yet
    from lms.federation.tasks import build_shared_archives

    assert build_shared_archives.call_local() == ["GX-DT-002 v2"]  # the worker's periodic job
    assert db_session.scalar(select(FeedArchive).where(FeedArchive.course_id == draft.id)) is not None
    assert build_shared_archives.call_local() == []
    page = services.feed_page(services.FeedQuery())
    assert [(e["code"], e["version"]) for e in page["entries"]] == [("GX-DT-002", 2)]  # version 1 retired


# ---------------------------------------------------------------- the admin pages (hub side)

def test_sharing_from_the_page_is_audited_and_bad_input_changes_nothing(app, client, login, admin, csrf_token,
                                                                        db_session):
    login(admin)
    page = client.get("/admin/federation")
    assert page.status_code == 200 and "GX-NS-001" in page.get_data(as_text=True)
    token = csrf_token(page.get_data(as_text=True))
    refused = client.post("/admin/federation/shares", data={"share-code": "GX-XX-999", "csrf_token": token})
    assert refused.status_code == 400 and "没有已发布的版本" in refused.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(SharedCourse)) == 0
    done = client.post("/admin/federation/shares", data={"share-code": "GX-NS-001", "csrf_token": token})
    assert done.status_code == 303
    assert db_session.scalar(select(AuditEvent.detail).where(AuditEvent.action == "federation.shared"))["code"] \
        == "GX-NS-001"
    again = client.post("/admin/federation/shares", data={"share-code": "GX-NS-001", "csrf_token": token})
    assert again.status_code == 409 and "已在共享列表中" in again.get_data(as_text=True)
    no_csrf = client.post("/admin/federation/tokens", data={"token-name": "某省平台"})
    assert no_csrf.status_code in (200, 400) and "gxf_" not in no_csrf.get_data(as_text=True)
    issued = client.post("/admin/federation/tokens", data={"token-name": "某省平台", "csrf_token": token})
    assert issued.status_code == 200 and "gxf_" in issued.get_data(as_text=True)
    assert "gxf_" not in client.get("/admin/federation").get_data(as_text=True)  # shown once


def test_the_subscribe_page_refuses_what_it_cannot_use_and_says_why(app, client, login, admin, csrf_token,
                                                                  db_session):
    login(admin)
    token = csrf_token(client.get("/admin/federation/subscribe").get_data(as_text=True))
    cases = [("", "请填写对方平台的订阅源地址"), ("ftp://hub.example.cn/feed", "https://"),
             ("https://127.0.0.1/federation/courses", "不能指向本机或内部网络地址"),
             ("https://user:pw@hub.example.cn/federation/courses", "不能包含用户名或密码")]
    for url, message in cases:
        response = client.post("/admin/federation/subscribe",
                               data={"url": url, "token": "gxf_x", "mode": "draft", "csrf_token": token})
        assert response.status_code == 400 and message in response.get_data(as_text=True), url
    assert db_session.scalar(select(func.count()).select_from(FeedSubscription)) == 0


# ---------------------------------------------------------------- subscribing and pulling (a mock remote)

class Remote:
    """A remote platform served through httpx's mock transport: path → response or handler."""

    def __init__(self, monkeypatch):
        self.routes: dict[str, object] = {}
        self.seen: list[str] = []
        real = httpx.Client
        monkeypatch.setattr(remote.httpx, "Client",
                            lambda **kw: real(transport=httpx.MockTransport(self._handle), **kw))

    def _handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.seen.append(url)
        key = url.split("?")[0]
        answer = self.routes.get(key)
        if answer is None:
            return httpx.Response(404)
        return answer(request) if callable(answer) else answer


@pytest.fixture
def open_network(app, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_FEDERATION_ALLOW_HTTP", True)
    monkeypatch.setitem(app.config, "LMS_FEDERATION_ALLOW_PRIVATE", True)


def _hub_answers(app, client, remote_, monkeypatch, *, tamper=None):
    """Serve this app's own feed, key set and archives as the remote hub http://hub.example.cn."""
    monkeypatch.setitem(app.config, "LMS_PUBLIC_URL", "http://hub.example.cn")

    def forward(request):
        path = request.url.raw_path.decode()
        response = client.get(path, headers={k: v for k, v in request.headers.items() if k.lower() == "authorization"})
        content = response.get_data()
        if tamper and path.endswith(".zip"):
            content = tamper(content)
        return httpx.Response(response.status_code, content=content, headers={"Content-Type": response.mimetype})

    remote_.routes[FEED] = forward
    remote_.routes["http://hub.example.cn/.well-known/jwks.json"] = forward
    for code in ("GX-DT-002", "GX-NS-001"):
        remote_.routes[f"http://hub.example.cn/federation/courses/{code}/1/package.zip"] = forward


def test_a_code_used_here_by_a_local_course_is_refused_with_the_reason(app, client, ctx, shared, admin, db_session,
                                                                      monkeypatch, open_network):
    """The hub is this very platform (same database), so its course's code is already a local course."""
    hub = Remote(monkeypatch)
    _hub_answers(app, client, hub, monkeypatch)
    preview = subscriptions.inspect_feed(FEED)
    sub = subscriptions.subscribe(admin, FEED, token=shared[1], publish_at_once=True, fingerprint=preview.fingerprint)
    from lms.federation.tasks import pull_subscription

    report = pull_subscription(sub.id)
    assert report.imported == [] and "本平台已有编号为 GX-DT-002 的其他课程" in report.rejected[0][1]
    assert db_session.scalar(select(func.count()).select_from(CourseOrigin)) == 0
    events = [e.action for e in db_session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert "federation.subscribed" in events and "federation.entry_rejected" in events


def test_a_wrong_fingerprint_subscribes_nothing(app, ctx, shared, admin, client, db_session, monkeypatch,
                                                open_network):
    hub = Remote(monkeypatch)
    _hub_answers(app, client, hub, monkeypatch)
    from lms.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="指纹与对方平台现在公布的密钥不符"):
        subscriptions.subscribe(admin, FEED, token=shared[1], publish_at_once=False, fingerprint="AAAA" * 10)
    with pytest.raises(InvalidInput, match="请核对对方平台签名密钥的指纹"):
        subscriptions.subscribe(admin, FEED, token=shared[1], publish_at_once=False)
    assert db_session.scalar(select(func.count()).select_from(FeedSubscription)) == 0


def test_the_trust_list_pins_without_a_confirmation(app, ctx, shared, admin, client, monkeypatch, open_network):
    hub = Remote(monkeypatch)
    _hub_answers(app, client, hub, monkeypatch)
    kid = client.get("/.well-known/jwks.json").get_json()["keys"][0]["kid"]
    monkeypatch.setitem(app.config, "LMS_FEDERATION_TRUST", {"http://hub.example.cn": frozenset({kid})})
    sub = subscriptions.subscribe(admin, FEED, token=shared[1], publish_at_once=False)
    assert sub.pinned_via == "trust_list" and set(sub.pinned_keys) == {kid}


def _subscription(db_session, admin, pins: dict) -> FeedSubscription:
    from lms.accounts import crypto

    sub = FeedSubscription(feed_url=FEED, origin="http://hub.example.cn", instance_name="国家平台",
                           token_encrypted=crypto.encrypt("gxf_x"), pinned_keys=pins, created_by_id=admin.id)
    db_session.add(sub)
    db_session.flush()
    return sub


def _entry(claims: dict, key, kid: str) -> dict:
    return {"code": claims.get("code"), "version": claims.get("version"), "title": "",
            "jws": jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid, "typ": services.ENTRY_TYPE})}


def _key():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from lms.certificates.signing import public_jwk, thumbprint

    key = Ed25519PrivateKey.generate()
    jwk = public_jwk(key)
    return key, thumbprint(jwk), {**jwk, "kid": thumbprint(jwk)}


CLAIMS = {"iss": "http://hub.example.cn", "code": "GX-ZZ-001", "version": 1, "title": "测试", "size": 10,
          "sha256": "0" * 64, "archive_url": "http://hub.example.cn/federation/courses/GX-ZZ-001/1/package.zip",
          "publisher": {"name": "国家平台"}, "updated_at": "2026-01-01T00:00:00.000000Z"}


@pytest.mark.parametrize(("change", "reason"), [
    ("tampered", "签名与内容不符"), ("unknown-key", "未知的密钥"), ("other-issuer", "签发平台"),
    ("no-size", "缺少或含有无效的字段"), ("not-a-jws", "不是 JWS"),
])
def test_entries_that_fail_verification_are_refused_with_their_reason(ctx, db_session, admin, change, reason):
    key, kid, jwk = _key()
    sub = _subscription(db_session, admin, {kid: jwk})
    claims = dict(CLAIMS)
    if change == "other-issuer":
        claims["iss"] = "http://elsewhere.example.cn"
    if change == "no-size":
        del claims["size"]
    item = _entry(claims, key, kid)
    if change == "tampered":
        head, payload, signature = item["jws"].split(".")
        forged = jwt.utils.base64url_encode(json.dumps({**claims, "version": 9}).encode()).decode()
        item["jws"] = ".".join([head, forged, signature])
    if change == "unknown-key":
        other, other_kid, _jwk = _key()
        item = _entry(claims, other, other_kid)
    if change == "not-a-jws":
        item["jws"] = "not a signature"
    taken = subscriptions.take_entry(sub, item)
    assert taken.entry.outcome == "rejected" and reason in taken.entry.reason
    assert db_session.scalar(select(func.count()).select_from(CourseOrigin)) == 0
    assert reason in db_session.scalar(select(AuditEvent.detail).where(AuditEvent.action == "federation.entry_rejected"))["reason"]


def test_a_rollover_counts_only_when_signed_by_a_pinned_key(ctx, db_session, admin):
    old, old_kid, old_jwk = _key()
    new, new_kid, new_jwk = _key()
    stranger, stranger_kid, _ = _key()
    sub = _subscription(db_session, admin, {old_kid: old_jwk})

    def announce(key, kid):
        return jwt.encode({"new_key": new_jwk}, key, algorithm="EdDSA", headers={"kid": kid, "typ": services.ROLLOVER_TYPE})

    assert subscriptions.follow_rollover(sub, [announce(stranger, stranger_kid)]) == []
    assert subscriptions.follow_rollover(sub, [announce(old, old_kid)]) == [new_kid]
    assert set(sub.pinned_keys) == {old_kid, new_kid}
    assert db_session.scalar(select(AuditEvent.detail).where(AuditEvent.action == "federation.key_pinned"))["kid"] \
        == new_kid


def test_fetches_stay_on_the_feed_origin_and_under_the_caps(app, ctx, monkeypatch, open_network, tmp_path):
    hub = Remote(monkeypatch)
    hub.routes[FEED] = httpx.Response(302, headers={"Location": "http://10.0.0.8/federation/courses"})
    with pytest.raises(remote.FetchRefused, match="不在订阅的平台"):
        remote.fetch_json(FEED, "http://hub.example.cn")
    assert hub.seen == [FEED]  # the redirect's target was never asked
    monkeypatch.setitem(app.config, "LMS_FEDERATION_MAX_FEED_KB", 1)
    hub.routes[FEED] = httpx.Response(200, content=b"{" + b" " * 4096 + b"}")
    with pytest.raises(remote.FetchRefused, match="超过 1 KB"):
        remote.fetch_json(FEED, "http://hub.example.cn")
    archive = "http://hub.example.cn/federation/courses/GX-ZZ-001/1/package.zip"
    hub.routes[archive] = httpx.Response(200, content=b"x" * 100)
    with pytest.raises(remote.FetchRefused, match="超过了签名条目声明的大小"):
        remote.download(archive, "http://hub.example.cn", tmp_path / "p.zip", token="gxf_x", declared_size=10)
    hub.routes[archive] = httpx.Response(401)
    with pytest.raises(remote.FetchFailed, match="订阅令牌无效或已吊销"):
        remote.download(archive, "http://hub.example.cn", tmp_path / "p.zip", token="gxf_x", declared_size=10)


def test_private_addresses_are_refused_unless_allowed(app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_FEDERATION_ALLOW_HTTP", True)
    monkeypatch.setitem(app.config, "LMS_FEDERATION_ALLOW_PRIVATE", False)
    with pytest.raises(remote.FetchRefused, match="未通过检查"):
        remote.fetch_json("http://127.0.0.1:9/federation/courses", "http://127.0.0.1:9")
    from lms.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="不能指向本机或内部网络地址"):
        remote.check_feed_url("http://192.168.1.10/federation/courses")


def test_the_progress_page_shows_each_entry_with_its_reason(app, client, login, admin, db_session):
    with app.app_context():
        sub = _subscription(db_session, admin, {})
    db_session.add(FeedEntry(subscription_id=sub.id, code="GX-ZZ-001", version=3, title="篡改过的课程",
                             outcome="rejected", reason="课程包的 SHA-256 与签名条目不符"))
    db_session.commit()
    login(admin)
    text = client.get(f"/admin/federation/subscriptions/{sub.id}").get_data(as_text=True)
    assert "篡改过的课程" in text and "课程包的 SHA-256 与签名条目不符" in text and "已拒绝" in text


def _package_zip(tmp_path, db_session, code: str, title: str) -> bytes:
    """GX-NS-001 exported, renamed to ``code`` (a course this platform does not have), as a zip."""
    from lms.catalog.archives import export_package, zip_folder
    from lms.catalog.models import Course

    folder = export_package(db_session.scalar(select(Course).where(Course.code == "GX-NS-001")), tmp_path / title)
    data = yaml.safe_load((folder / "course.yaml").read_text(encoding="utf-8"))
    data.update(code=code, title=title)
    (folder / "course.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    renamed = folder.rename(folder.parent / code)
    return zip_folder(renamed, tmp_path / f"{title}.zip").read_bytes()


def test_a_draft_subscription_imports_drafts_and_each_upstream_version_as_the_next_version(
        app, client, login, ctx, admin, db_session, monkeypatch, open_network, tmp_path):
    from lms.catalog.models import Course

    key, kid, jwk = _key()
    sub = _subscription(db_session, admin, {kid: jwk})
    hub = Remote(monkeypatch)
    for version, title in ((1, "联邦测试课程"), (2, "联邦测试课程（修订）")):
        package = _package_zip(tmp_path, db_session, "GX-FD-001", title)
        url = f"http://hub.example.cn/federation/courses/GX-FD-001/{version}/package.zip"
        hub.routes[url] = httpx.Response(200, content=package)
        item = _entry({**CLAIMS, "code": "GX-FD-001", "version": version, "title": title, "archive_url": url,
                       "size": len(package), "sha256": hashlib.sha256(package).hexdigest()}, key, kid)
        taken = subscriptions.take_entry(sub, item)
        assert taken.entry.outcome == "imported", taken.entry.reason
        assert subscriptions.take_entry(sub, item).entry is None  # the same entry again: nothing to do
    db_session.commit()
    courses = db_session.scalars(select(Course).where(Course.code == "GX-FD-001").order_by(Course.version)).all()
    assert [(c.version, c.status, c.title) for c in courses] == [(1, "draft", "联邦测试课程"), (2, "draft", "联邦测试课程（修订）")]
    origins = db_session.scalars(select(CourseOrigin).order_by(CourseOrigin.original_version)).all()
    assert [(o.course_id, o.original_version, o.instance_name) for o in origins] == [
        (courses[0].id, 1, "国家平台"), (courses[1].id, 2, "国家平台")]
    login(admin)
    text = client.get(f"/admin/federation/subscriptions/{sub.id}").get_data(as_text=True)
    assert f"/publish/courses/{courses[1].id}" in text and "本平台第 2 版" in text
    assert "已导入</div>" in text


def test_a_refused_token_stops_the_pull_without_refusing_entries(app, ctx, db_session, admin, monkeypatch,
                                                                  open_network):
    from lms.federation.tasks import pull_subscription

    key, kid, jwk = _key()
    sub = _subscription(db_session, admin, {kid: jwk})
    db_session.commit()
    hub = Remote(monkeypatch)
    hub.routes[FEED] = httpx.Response(200, json={"entries": [_entry(CLAIMS, key, kid)], "next": None})
    hub.routes[CLAIMS["archive_url"]] = httpx.Response(401)
    report = pull_subscription(sub.id)
    assert report.rejected == [] and "订阅令牌无效或已吊销" in report.error
    assert sub.cursor is None and "订阅令牌无效或已吊销" in sub.last_error  # the next pull tries it again
    assert db_session.scalar(select(func.count()).select_from(FeedEntry)) == 0


def test_the_worker_pulls_subscriptions_that_are_due(app, ctx, db_session, admin, monkeypatch):
    from lms.federation.tasks import pull_due_subscriptions

    monkeypatch.setitem(app.config, "LMS_FEDERATION_ALLOW_PRIVATE", False)
    sub = _subscription(db_session, admin, {})
    sub.feed_url, sub.origin = "http://127.0.0.1:9/federation/courses", "http://127.0.0.1:9"
    db_session.commit()
    assert pull_due_subscriptions.call_local() == 1
    assert sub.last_pulled_at is not None and "未通过检查" in sub.last_error  # refused before any connection
    assert pull_due_subscriptions.call_local() == 0  # not due again before LMS_FEDERATION_PULL_MINUTES


def test_a_new_token_replaces_the_old_one_from_the_page(app, client, login, admin, csrf_token, db_session):
    from lms.accounts import crypto

    with app.app_context():
        sub = _subscription(db_session, admin, {})
        db_session.commit()
    login(admin)
    page = client.get(f"/admin/federation/subscriptions/{sub.id}").get_data(as_text=True)
    token = csrf_token(page)
    refused = client.post(f"/admin/federation/subscriptions/{sub.id}/token",
                          data={"replace-token": "two words", "csrf_token": token})
    assert refused.status_code == 400 and "订阅令牌格式不正确" in refused.get_data(as_text=True)
    with app.app_context():
        assert crypto.decrypt(sub.token_encrypted) == "gxf_x"
    done = client.post(f"/admin/federation/subscriptions/{sub.id}/token",
                       data={"replace-token": "gxf_renewed", "csrf_token": token})
    assert done.status_code == 303
    with app.app_context():
        db_session.refresh(sub)
        assert crypto.decrypt(sub.token_encrypted) == "gxf_renewed"
    assert db_session.scalar(select(AuditEvent.id).where(AuditEvent.action == "federation.token_replaced"))


def test_the_feed_and_archives_are_rate_limited_per_address(app, client, shared, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_FEDERATION_RATE_LIMIT", "2 per minute")
    assert [client.get("/federation/courses").status_code for _ in range(2)] == [200, 200]
    limited = client.get("/federation/courses")
    assert limited.status_code == 429 and limited.get_json()["error"]["code"] == "rate_limited"
    assert limited.headers.get("Retry-After")


def test_subscribing_on_the_page_shows_the_fingerprint_then_subscribes_and_pulls(
        app, client, login, admin, csrf_token, shared, db_session, monkeypatch, open_network):
    hub = Remote(monkeypatch)
    _hub_answers(app, client, hub, monkeypatch)
    published = client.get("/.well-known/jwks.json").get_json()["keys"]  # earlier tests may have rotated keys
    kid = published[0]["kid"]
    login(admin)
    token = csrf_token(client.get("/admin/federation/subscribe").get_data(as_text=True))
    form = {"url": FEED, "token": shared[1], "mode": "publish", "csrf_token": token}
    preview = client.post("/admin/federation/subscribe", data=form)
    text = preview.get_data(as_text=True)
    assert preview.status_code == 200 and subscriptions.fingerprint_groups(kid) in text and "指纹一致，确认订阅" in text
    assert db_session.scalar(select(func.count()).select_from(FeedSubscription)) == 0  # nothing until confirmed
    wrong = client.post("/admin/federation/subscribe", data={**form, "fingerprint": "x" * 43})
    assert wrong.status_code == 400 and "指纹与对方平台现在公布的密钥不符" in wrong.get_data(as_text=True)
    done = client.post("/admin/federation/subscribe", data={**form, "fingerprint": kid})
    assert done.status_code == 303
    sub = db_session.scalar(select(FeedSubscription))
    assert sub.publish_at_once and set(sub.pinned_keys) == {k["kid"] for k in published} and sub.last_pulled_at
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "本平台已有编号为 GX-DT-002 的其他课程" in page  # the first pull ran; this hub is this platform
