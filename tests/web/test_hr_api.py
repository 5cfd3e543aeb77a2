"""The HR API: bearer tokens, scopes that never widen, keyset paging, rate limits, credentials, webhooks."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from lms.accounts import crypto
from lms.accounts.models import Role
from lms.api import services
from lms.api.models import WebhookSubscription
from lms.core import clock
from lms.core.audit import AuditEvent
from lms.credits import services as ledger
from tests.records_helpers import UNIT_A, UNIT_B, completion, employee

API = "/api/v1/credit-records"


@pytest.fixture(autouse=True)
def webhook_hosts(app, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_WEBHOOK_ALLOW_HTTP", True)
    monkeypatch.setitem(app.config, "LMS_WEBHOOK_ALLOW_PRIVATE", True)


def issue(app, db_session, actor, **kw):
    """A client and its token, issued by ``actor`` the way the page does it."""
    with app.test_request_context():
        client, token = services.issue_client(actor, services.ClientRequest(name=kw.pop("name", "人事系统"), **kw))
        db_session.commit()
    return client, token


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(app, ctx, db_session, make_user):
    a1 = employee(make_user, UNIT_A, real_name="甲一")
    a2 = employee(make_user, UNIT_A, real_name="甲二")
    b1 = employee(make_user, UNIT_B, region="440000", real_name="乙一")
    records = {"a1": completion(db_session, a1, certificate=True), "a2": completion(db_session, a2),
               "b1": completion(db_session, b1, certificate=True)}
    admin = make_user(roles=(Role.ADMIN,), real_name="管理员")
    unit_a, unit_a_token = issue(app, db_session, admin, unit=UNIT_A)
    guangdong, guangdong_token = issue(app, db_session, admin, region="440000")
    full, full_token = issue(app, db_session, admin, region="110000", full_id_numbers=True)
    return dict(a1=a1, a2=a2, b1=b1, records=records, admin=admin, unit_a=unit_a, unit_a_token=unit_a_token,
                guangdong=guangdong, guangdong_token=guangdong_token, full=full, full_token=full_token)


def get(client, token, **params):
    return client.get(API, headers=bearer(token), query_string=params)


def error_of(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]
    return error


# ---------------------------------------------------------------- authentication

def test_requests_without_a_valid_token_are_refused(client, world):
    missing = client.get(API)
    error_of(missing, 401, "missing_token")
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    key_id, secret = world["unit_a_token"].split(".", 1)
    for header in ("Bearer nonsense", "Bearer .x", f"Basic {world['unit_a_token']}", f"Bearer {key_id}.wrong{secret}",
                   f"Bearer 0000000000000000.{secret}", f"Bearer {key_id}.{secret}\x00", "Bearer " + "a" * 5000):
        response = client.get(API, headers={"Authorization": header})
        error_of(response, 401, "invalid_token")
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert get(client, world["unit_a_token"]).status_code == 200


def test_only_a_keyed_hash_of_the_secret_is_stored(world):
    key_id, secret = world["unit_a_token"].split(".", 1)
    stored = world["unit_a"]
    assert stored.key_id == key_id and secret not in stored.secret_hash and len(stored.secret_hash) == 64
    assert stored.secret_hash == services.secret_hash(secret)


def test_a_revoked_token_is_refused(client, world, db_session):
    services.revoke_client(world["admin"], world["unit_a"])
    db_session.commit()
    error_of(get(client, world["unit_a_token"]), 401, "token_revoked")
    assert get(client, world["guangdong_token"]).status_code == 200


def test_last_use_is_written_at_most_once_a_minute(client, world, db_session):
    t0 = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
    with clock.freeze(t0):
        get(client, world["unit_a_token"])
    assert world["unit_a"].last_used_at == t0.replace(tzinfo=None)
    with clock.freeze(t0 + timedelta(seconds=30)):
        get(client, world["unit_a_token"])
    db_session.refresh(world["unit_a"])
    assert world["unit_a"].last_used_at == t0.replace(tzinfo=None)
    with clock.freeze(t0 + timedelta(seconds=61)):
        get(client, world["unit_a_token"])
    db_session.refresh(world["unit_a"])
    assert world["unit_a"].last_used_at == (t0 + timedelta(seconds=61)).replace(tzinfo=None)


# ---------------------------------------------------------------- scope

def ids(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    return [row["id"] for row in response.get_json()["data"]]


def test_a_unit_client_never_sees_another_units_records(client, world):
    recs = world["records"]
    token = world["unit_a_token"]
    assert ids(get(client, token)) == [recs["a1"].id, recs["a2"].id]
    assert ids(get(client, token, region="110000")) == [recs["a1"].id, recs["a2"].id]
    assert ids(get(client, token, region="440000")) == []  # narrowing never widens: B's region, still unit A
    assert ids(get(client, token, unit=UNIT_A.lower())) == [recs["a1"].id, recs["a2"].id]
    refused = error_of(get(client, token, unit=UNIT_B), 403, "out_of_scope")
    assert UNIT_B in refused["message"]
    row = get(client, token).get_json()["data"][0]
    assert row["learner"]["id_number_masked"] is True and "*" in row["learner"]["id_number"]
    assert row["unit"] == {"name": world["a1"].employer.name, "credit_code": UNIT_A}
    assert row["certificate_number"] and row["credential_url"] is None  # masked IDs: no credential to fetch


def test_a_region_client_sees_its_region_only(client, world):
    token = world["guangdong_token"]
    assert ids(get(client, token)) == [world["records"]["b1"].id]
    assert ids(get(client, token, unit=UNIT_B)) == [world["records"]["b1"].id]
    error_of(get(client, token, region="110000"), 403, "out_of_scope")


def test_full_id_numbers_are_returned_only_when_granted_and_every_read_is_audited(client, world, db_session):
    response = get(client, world["full_token"], year=2026)
    rows = response.get_json()["data"]
    assert [r["learner"]["id_number"] for r in rows] == [
        crypto.decrypt(world["a1"].id_number_encrypted), crypto.decrypt(world["a2"].id_number_encrypted)]
    assert all(r["learner"]["id_number_masked"] is False for r in rows)
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "api.records_full_id_numbers")).all()
    assert len(events) == 1
    assert events[0].target_id == str(world["full"].id) and events[0].detail["count"] == 2
    assert events[0].detail["filters"]["year"] == 2026
    get(client, world["unit_a_token"])  # masked reads are not audited as full-ID reads
    assert db_session.scalar(select(AuditEvent).where(AuditEvent.action == "api.records_full_id_numbers")
                             .order_by(AuditEvent.id.desc())).id == events[0].id


def test_voided_entries_are_listed_with_their_voiding_entry(client, world, db_session):
    revocation = ledger.revoke_record(world["admin"], world["records"]["a2"].id, reason="重复记录")
    db_session.commit()
    rows = {r["id"]: r for r in get(client, world["unit_a_token"]).get_json()["data"]}
    original = rows[world["records"]["a2"].id]
    assert original["counts"] is False and original["voided_by_id"] == revocation.id
    assert rows[revocation.id]["entry_kind"] == "revocation" and rows[revocation.id]["voids_id"] == original["id"]
    assert rows[revocation.id]["reason"] == "重复记录" and rows[revocation.id]["counts"] is False


# ---------------------------------------------------------------- parameters

@pytest.mark.parametrize(("params", "parameter"), [
    ({"year": "abc"}, "year"), ({"year": "1999"}, "year"), ({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"),
    ({"limit": "-1"}, "limit"), ({"updated_since": "yesterday"}, "updated_since"),
    ({"updated_since": "2026-13-01T00:00:00Z"}, "updated_since"), ({"unit": "12345"}, "unit"),
    ({"unit": "91110108MA00AAAA00"}, "unit"), ({"region": "999999"}, "region"), ({"region": "11"}, "region"),
    ({"unit": "91110108MA00AAAA0\x00"}, "unit"), ({"updated_since": "2026-03-01T00:00:00"}, "updated_since"),
    ({"updated_since": "2026-03-01"}, "updated_since"), ({"yaer": "2026"}, "yaer"),
    ({"year": "2026", "page": "2"}, "page"),
])
def test_bad_parameters_are_400_naming_the_parameter(client, world, params, parameter):
    error = error_of(get(client, world["unit_a_token"], **params), 400, "invalid_parameter")
    assert error["parameter"] == parameter and parameter in error["message"]


def test_unknown_parameters_and_naive_times_are_refused_not_ignored(client, world):
    token = world["unit_a_token"]
    error = error_of(get(client, token, yaer=2026), 400, "invalid_parameter")
    assert error["parameter"] == "yaer" and "yaer" in error["message"]
    assert all(name in error["message"] for name in ("year", "unit", "region", "updated_since", "limit", "cursor"))
    naive = error_of(get(client, token, updated_since="2030-01-02T03:04:05"), 400, "invalid_parameter")
    assert naive["parameter"] == "updated_since" and "时区" in naive["message"]
    export = client.get(f"{API}/export", headers=bearer(token), query_string={"year": 2026, "yaer": 2026})
    error = error_of(export, 400, "invalid_parameter")
    assert error["parameter"] == "yaer" and "format" in error["message"] and "cursor" not in error["message"]
    # Every documented parameter is still accepted.
    assert get(client, token, year=2026, unit=UNIT_A, region="110000", updated_since="2026-01-01T00:00:00+08:00",
               limit=5).status_code == 200
    exported = client.get(f"{API}/export", headers=bearer(token), query_string={
        "year": 2026, "format": "csv", "unit": UNIT_A, "region": "110000"})
    assert exported.status_code == 200 and "甲一" in exported.get_data(as_text=True)


def test_keyset_paging_and_cursors_bound_to_their_query(client, world, db_session):
    more = [completion(db_session, world["a1"], code="GX-DT-002"), completion(db_session, world["a2"], code="GX-DT-002")]
    expected = [world["records"]["a1"].id, world["records"]["a2"].id] + [r.id for r in more]
    token = world["unit_a_token"]
    seen, cursor, pages = [], None, 0
    while True:
        body = get(client, token, limit=1, year=2026, **({"cursor": cursor} if cursor else {})).get_json()
        seen += [r["id"] for r in body["data"]]
        cursor, pages = body["next_cursor"], pages + 1
        if not body["has_more"]:
            break
    assert seen == expected and pages == 4
    # Nothing new: an empty page hands the same cursor back, to resume from later.
    idle = get(client, token, limit=1, year=2026, cursor=cursor).get_json()
    assert idle == {"data": [], "next_cursor": cursor, "has_more": False}
    newer = completion(db_session, world["a2"], code="GX-NS-001", at=datetime(2026, 5, 1))
    assert ids(get(client, token, limit=1, year=2026, cursor=cursor)) == [newer.id]

    error_of(get(client, token, limit=1, year=2025, cursor=cursor), 400, "cursor_mismatch")
    error_of(get(client, token, limit=1, cursor=cursor), 400, "cursor_mismatch")
    error_of(get(client, world["guangdong_token"], limit=1, year=2026, cursor=cursor), 400, "cursor_mismatch")
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    error_of(get(client, token, limit=1, year=2026, cursor=tampered), 400, "invalid_cursor")
    error_of(get(client, token, cursor="not-a-cursor"), 400, "invalid_cursor")
    assert get(client, token, limit=5, year=2026, cursor=cursor).status_code == 200  # limit is not part of the query


def test_updated_since_returns_entries_recorded_since(client, world, db_session):
    later = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    with clock.freeze(later):
        fresh = completion(db_session, world["a1"], code="GX-DT-002")
    token = world["unit_a_token"]
    assert ids(get(client, token, updated_since="2030-01-02T03:04:05Z")) == [fresh.id]
    assert ids(get(client, token, updated_since="2030-01-02T11:04:05+08:00")) == [fresh.id]
    assert ids(get(client, token, updated_since="2030-01-02T03:04:06Z")) == []
    row = get(client, token, updated_since="2030-01-01T00:00:00Z").get_json()["data"][0]
    assert row["recorded_at"] == "2030-01-02T03:04:05Z"


def test_the_rate_limit_is_per_client_and_answers_429_json(app, client, world, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_API_RATE_LIMIT", "3 per minute")
    for _ in range(3):
        assert get(client, world["unit_a_token"]).status_code == 200
    limited = get(client, world["unit_a_token"])
    error_of(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) >= 1
    assert get(client, world["guangdong_token"]).status_code == 200  # another client has its own budget


# ---------------------------------------------------------------- credentials

def test_credentials_of_records_in_scope_only_for_full_id_clients(app, client, world, db_session):
    from lms.certificates.models import Certificate

    cert_a = db_session.scalar(select(Certificate).where(Certificate.credit_record_id == world["records"]["a1"].id))
    cert_b = db_session.scalar(select(Certificate).where(Certificate.credit_record_id == world["records"]["b1"].id))
    full = world["full_token"]  # Beijing, full ID numbers
    response = client.get(f"/api/v1/credentials/{cert_a.number}", headers=bearer(full))
    assert response.status_code == 200 and response.mimetype == "application/vc+jwt"
    assert response.get_data(as_text=True) == cert_a.credential_jwt
    error_of(client.get(f"/api/v1/credentials/{cert_b.number}", headers=bearer(full)), 404, "not_found")
    _gd, gd_full = issue(app, db_session, world["admin"], region="440000", full_id_numbers=True)
    assert client.get(f"/api/v1/credentials/{cert_b.number}", headers=bearer(gd_full)).status_code == 200
    error_of(client.get("/api/v1/credentials/GX20260099999", headers=bearer(full)), 404, "not_found")
    error_of(client.get(f"/api/v1/credentials/{cert_a.number}"), 401, "missing_token")
    # The record JSON links to the credential for such a client.
    row = next(r for r in get(client, full).get_json()["data"] if r["id"] == world["records"]["a1"].id)
    assert row["credential_url"].endswith(f"/api/v1/credentials/{cert_a.number}")


def test_clients_with_masked_ids_may_not_fetch_credentials(client, world, db_session):
    """The credential carries a salted hash of the ID number: from the masked number it could be recovered."""
    from lms.certificates.models import Certificate

    cert_a = db_session.scalar(select(Certificate).where(Certificate.credit_record_id == world["records"]["a1"].id))
    refused = client.get(f"/api/v1/credentials/{cert_a.number}", headers=bearer(world["unit_a_token"]))
    error = error_of(refused, 403, "full_id_required")
    assert "完整身份证号" in error["message"] and cert_a.credential_jwt not in refused.get_data(as_text=True)
    # Refused before looking anything up: unknown numbers get the same answer.
    error_of(client.get("/api/v1/credentials/GX20260099999", headers=bearer(world["unit_a_token"])),
             403, "full_id_required")
    assert all(r["credential_url"] is None for r in get(client, world["unit_a_token"]).get_json()["data"])
    assert db_session.scalar(select(AuditEvent).where(AuditEvent.action == "api.credential_fetch")) is None


def test_every_credential_fetch_is_audited(client, world, db_session):
    from lms.certificates.models import Certificate

    cert_a = db_session.scalar(select(Certificate).where(Certificate.credit_record_id == world["records"]["a1"].id))
    for _ in range(2):
        assert client.get(f"/api/v1/credentials/{cert_a.number}", headers=bearer(world["full_token"])).status_code == 200
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "api.credential_fetch")).all()
    assert len(events) == 2
    assert all(e.target_type == "ApiClient" and e.target_id == str(world["full"].id) for e in events)
    assert all(e.detail["number"] == cert_a.number for e in events)


def test_a_revoked_certificates_credential_is_gone(client, world, db_session):
    from lms.certificates import services as certificates
    from lms.certificates.models import Certificate

    cert_a = db_session.scalar(select(Certificate).where(Certificate.credit_record_id == world["records"]["a1"].id))
    certificates.revoke_certificate(world["admin"], cert_a.number, reason="颁发有误")
    db_session.commit()
    gone = client.get(f"/api/v1/credentials/{cert_a.number}", headers=bearer(world["full_token"]))
    error = error_of(gone, 410, "credential_revoked")
    assert cert_a.number in error["message"] and cert_a.credential_jwt not in gone.get_data(as_text=True)
    assert db_session.scalar(select(AuditEvent).where(AuditEvent.action == "api.credential_fetch")) is None


# ---------------------------------------------------------------- webhooks

def test_webhooks_are_registered_listed_and_deleted_per_client(client, world, db_session):
    token = world["unit_a_token"]
    created = client.post("/api/v1/webhooks", headers=bearer(token),
                          json={"url": "https://hr.example.cn/hooks", "events": ["credit_record.voided"]})
    assert created.status_code == 201, created.get_data(as_text=True)  # no CSRF token needed with a bearer token
    body = created.get_json()
    assert body["url"] == "https://hr.example.cn/hooks" and body["events"] == ["credit_record.voided"]
    stored = db_session.get(WebhookSubscription, body["id"])
    assert body["secret"] not in stored.secret_encrypted and crypto.decrypt(stored.secret_encrypted) == body["secret"]
    default = client.post("/api/v1/webhooks", headers=bearer(token), json={"url": "http://10.0.0.8:8080/in"}).get_json()
    assert default["events"] == ["credit_record.created", "credit_record.voided"]

    assert created.headers["Location"].endswith(f"/api/v1/webhooks/{body['id']}")
    one = client.get(created.headers["Location"], headers=bearer(token))
    assert one.status_code == 200 and one.get_json() == {k: v for k, v in body.items() if k != "secret"}
    error_of(client.get(f"/api/v1/webhooks/{body['id']}", headers=bearer(world["guangdong_token"])), 404, "not_found")
    error_of(client.get("/api/v1/webhooks/99999999999999", headers=bearer(token)), 404, "not_found")

    listed = client.get("/api/v1/webhooks", headers=bearer(token)).get_json()["data"]
    assert [w["id"] for w in listed] == [body["id"], default["id"]] and all("secret" not in w for w in listed)
    assert client.get("/api/v1/webhooks", headers=bearer(world["guangdong_token"])).get_json() == {"data": []}

    other = client.delete(f"/api/v1/webhooks/{body['id']}", headers=bearer(world["guangdong_token"]))
    error_of(other, 404, "not_found")
    assert db_session.get(WebhookSubscription, body["id"]).deleted_at is None
    assert client.delete(f"/api/v1/webhooks/{body['id']}", headers=bearer(token)).status_code == 204
    assert db_session.get(WebhookSubscription, body["id"]).deleted_at is not None
    assert [w["id"] for w in client.get("/api/v1/webhooks", headers=bearer(token)).get_json()["data"]] == [default["id"]]
    error_of(client.delete(f"/api/v1/webhooks/{body['id']}", headers=bearer(token)), 404, "not_found")
    error_of(client.get(f"/api/v1/webhooks/{body['id']}", headers=bearer(token)), 404, "not_found")  # deleted
    error_of(client.delete("/api/v1/webhooks/99999999999999", headers=bearer(token)), 404, "not_found")


@pytest.mark.parametrize("body", [
    {"url": "ftp://hr.example.cn/x"}, {"url": "https://user:pw@hr.example.cn/x"}, {"url": ""}, {},
    {"url": "https://hr.example.cn/" + "x" * 500}, {"url": "https:///nohost"}, {"url": 42},
    {"url": "https://hr.example.cn/x", "events": ["credit_record.deleted"]},
    {"url": "https://hr.example.cn/x", "events": []}, {"url": "https://hr.example.cn/x", "events": "all"},
])
def test_bad_webhook_requests_are_400(client, world, db_session, body):
    response = client.post("/api/v1/webhooks", headers=bearer(world["unit_a_token"]), json=body)
    error = error_of(response, 400, "invalid_parameter")
    assert error["parameter"] in ("url", "events") and error["parameter"] in error["message"]
    assert db_session.scalar(select(WebhookSubscription)) is None


def test_webhook_body_must_be_a_json_object(client, world):
    error_of(client.post("/api/v1/webhooks", headers=bearer(world["unit_a_token"]), data="url=x"), 400, "invalid_body")
    error_of(client.post("/api/v1/webhooks", headers=bearer(world["unit_a_token"]), json=["x"]), 400, "invalid_body")


@pytest.mark.parametrize("url", ["http://hr.example.cn/x", "https://127.0.0.1/x", "https://localhost/x",
                                 "https://[::1]/x", "https://10.1.2.3/x", "https://169.254.169.254/latest",
                                 "https://192.168.1.1:8443/x", "https://[::ffff:127.0.0.1]/x"])
def test_webhooks_need_https_and_a_public_address_in_production(app, client, world, monkeypatch, url):
    monkeypatch.setitem(app.config, "LMS_WEBHOOK_ALLOW_HTTP", False)
    monkeypatch.setitem(app.config, "LMS_WEBHOOK_ALLOW_PRIVATE", False)
    response = client.post("/api/v1/webhooks", headers=bearer(world["unit_a_token"]), json={"url": url})
    error_of(response, 400, "invalid_parameter")


def test_the_webhook_host_is_resolved_outside_any_transaction(app, client, world, db_session, monkeypatch):
    """Resolving DNS may be slow: authentication's transaction (on SQLite, the write lock) has ended by then."""
    import socket

    from lms.extensions import db

    monkeypatch.setitem(app.config, "LMS_WEBHOOK_ALLOW_PRIVATE", False)
    in_transaction = []

    def resolve(host, port, *args, **kwargs):
        in_transaction.append(db.session().in_transaction())
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("93.184.215.14", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    created = client.post("/api/v1/webhooks", headers=bearer(world["unit_a_token"]),
                          json={"url": "https://hooks.hr.example.cn/in"})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert in_transaction and not any(in_transaction)
    stored = db_session.get(WebhookSubscription, created.get_json()["id"])
    assert stored.url == "https://hooks.hr.example.cn/in" and stored.api_client_id == world["unit_a"].id


def test_a_client_has_at_most_ten_active_webhooks(app, client, world, db_session, monkeypatch):
    token = world["unit_a_token"]
    ids = []
    for n in range(10):
        response = client.post("/api/v1/webhooks", headers=bearer(token), json={"url": f"https://hr.example.cn/in/{n}"})
        assert response.status_code == 201, response.get_data(as_text=True)
        ids.append(response.get_json()["id"])
    refused = client.post("/api/v1/webhooks", headers=bearer(token), json={"url": "https://hr.example.cn/in/10"})
    error = error_of(refused, 400, "invalid_parameter")
    assert "最多登记 10 个事件订阅" in error["message"] and "删除" in error["message"]
    assert len(services.client_webhooks(world["unit_a"])) == 10
    # Another client has its own allowance; a deleted subscription frees a place.
    assert client.post("/api/v1/webhooks", headers=bearer(world["guangdong_token"]),
                       json={"url": "https://hr.example.cn/gd"}).status_code == 201
    assert client.delete(f"/api/v1/webhooks/{ids[0]}", headers=bearer(token)).status_code == 204
    assert client.post("/api/v1/webhooks", headers=bearer(token),
                       json={"url": "https://hr.example.cn/in/10"}).status_code == 201
    monkeypatch.setitem(app.config, "LMS_WEBHOOK_MAX_PER_CLIENT", 11)
    assert client.post("/api/v1/webhooks", headers=bearer(token),
                       json={"url": "https://hr.example.cn/in/11"}).status_code == 201


def test_public_addresses_pass_the_webhook_check(app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_WEBHOOK_ALLOW_PRIVATE", False)
    assert services.check_webhook_url("https://93.184.215.14/hook") == "https://93.184.215.14/hook"



# ---------------------------------------------------------------- file exports through the API

def test_export_through_the_api_is_the_export_page_file_in_the_clients_scope(client, world, db_session):
    import csv
    import io

    import openpyxl

    from lms.exports.records import HEADER

    response = client.get(f"{API}/export", headers=bearer(world["unit_a_token"]), query_string={"year": 2026})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert tuple(table[0]) == HEADER
    assert sorted(r[0] for r in table[1:]) == ["甲一", "甲二"]  # unit A only, masked IDs
    assert all("*" in r[1] for r in table[1:])

    # Guangdong's example rule closes on 30 April: a March 2026 completion counts for 2025.
    xlsx = client.get(f"{API}/export", headers=bearer(world["guangdong_token"]),
                      query_string={"year": 2025, "format": "xlsx"})
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.get_data()), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert tuple(rows[0]) == HEADER and [r[0] for r in rows[1:]] == ["乙一"]

    events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "records.export")).all()
    assert {e.detail["via"] for e in events} == {f"api:{world['unit_a'].key_id}", f"api:{world['guangdong'].key_id}"}
    assert {e.detail["rows"] for e in events} == {2, 1}


def test_api_export_refuses_bad_or_out_of_scope_filters(client, world):
    token = world["unit_a_token"]
    error_of(client.get(f"{API}/export", headers=bearer(token)), 400, "invalid_parameter")  # no year
    error_of(client.get(f"{API}/export", headers=bearer(token), query_string={"year": 2026, "format": "pdf"}),
             400, "invalid_parameter")
    error_of(client.get(f"{API}/export", headers=bearer(token), query_string={"year": 2026, "unit": UNIT_B}),
             403, "out_of_scope")
    error_of(client.get(f"{API}/export", headers=bearer(world["guangdong_token"]),
                        query_string={"year": 2026, "region": "110000"}), 403, "out_of_scope")
