"""Credit portability through the pages: a learner uploads a credential of another instance on
/me/transfers and the hours reach every reader of the ledger with their origin (我的学时, the unit and
region pages, the CSV export's 学时来源 column, the HR API); refusals show their reason and change
nothing; the admin manages the trust list; a learner's consent link serves one credential until it
is revoked."""

import csv
import io
import json

import pytest
from sqlalchemy import func, select

from lms.accounts.models import Role
from lms.credits.models import CreditRecord
from lms.exports import records
from lms.exports import services as exports
from lms.federation import remote, transfers
from lms.federation.models import CreditTransfer, TrustedIssuer
from tests.conftest import _csrf_token, id_number
from tests.records_helpers import UNIT_A, employee, org
from tests.transfer_helpers import FakeIssuer, tamper
from tests.web.test_hr_api import bearer, issue

ID = id_number("11010119860202123")


@pytest.fixture
def issuer(app, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_FEDERATION_ALLOW_PRIVATE", True)
    fake = FakeIssuer()
    monkeypatch.setattr(remote, "fetch_bytes", fake.fetch)
    return fake


@pytest.fixture
def world(app, ctx, db_session, make_user, issuer):
    learner = employee(make_user, UNIT_A, real_name="甲转入", id_number=ID)
    admin = make_user(roles=(Role.ADMIN,), real_name="乙管理员")
    unit_admin = make_user(roles=(Role.UNIT_ADMIN,), organization=org(db_session, UNIT_A), real_name="甲单位管理")
    auditor = make_user(roles=(Role.HR_AUDITOR,), region_code="110000", real_name="京审核")
    transfers.add_issuer(admin, issuer.issuer_id, issuer.name)
    db_session.commit()
    return dict(learner=learner, admin=admin, unit_admin=unit_admin, auditor=auditor)


def _present(client, token: str):
    page = client.get("/me/transfers")
    return client.post("/me/transfers", data={"csrf_token": _csrf_token(page.get_data(as_text=True)),
                                              "credential": (io.BytesIO(token.encode()), "A1.jwt")},
                       content_type="multipart/form-data")


def _counts(db_session):
    return (db_session.scalar(select(func.count()).select_from(CreditRecord)),
            db_session.scalar(select(func.count()).select_from(CreditTransfer)))


def test_a_transferred_credential_reaches_every_reader_with_its_origin(app, client, login, world, issuer,
                                                                       db_session, tmp_path):
    login(world["learner"])
    token = issuer.sign(issuer.badge(ID, "A2026000001X", code="GX-A-001", hours=3.0, title="人工智能与数字政府"))
    response = _present(client, token)
    assert response.status_code == 303 and response.headers["Location"].endswith("/me/transfers")
    page = client.get("/me/transfers").get_data(as_text=True)
    assert "已转入 人工智能与数字政府（3 学时，来自 甲省继续教育平台" in page and "A2026000001X" in page
    hours = client.get("/me/hours/2026").get_data(as_text=True)
    assert "人工智能与数字政府" in hours and "外平台转入" in hours and "自 甲省继续教育平台 转入" in hours

    scope = records.scope_for(world["unit_admin"])
    exports.write_export(scope, year=2026, fmt="csv", out=tmp_path / "a.csv")
    table = list(csv.reader(io.StringIO((tmp_path / "a.csv").read_bytes()[3:].decode("utf-8"), newline="")))
    row = next(dict(zip(records.HEADER, r, strict=True)) for r in table[1:] if r[8] == "人工智能与数字政府")
    assert (row["学时"], row["学时来源"], row["完成日期"]) == ("3", "外平台转入", "2026-03-10")

    _client, api_token = issue(app, db_session, world["admin"], region="110000")
    data = client.get("/api/v1/credit-records", headers=bearer(api_token)).get_json()["data"]
    moved = next(r for r in data if r["origin"] == "transferred")
    assert moved["origin_label"] == "外平台转入" and moved["hours"] == 3.0 and moved["counts"] is True

    from lms.credits import services as ledger
    from lms.units import services as units

    total = ledger.year_summary(world["learner"], 2026).total
    board = units.unit_dashboard(world["unit_admin"], UNIT_A, year=2026)
    assert next(r for r in board.standing.items if r.real_name == "甲转入").total == total == 3
    assert units.region_dashboard(world["auditor"], "110000", year=2026).hours_total >= 3


def test_refusals_show_their_reason_and_change_nothing(client, login, world, issuer, db_session):
    login(world["learner"])
    token = issuer.sign(issuer.badge(ID, "A2026000001X"))
    assert _present(client, token).status_code == 303
    before = _counts(db_session)
    again = _present(client, token)
    assert again.status_code == 422 and "已经转入过，不能重复转入" in again.get_data(as_text=True)
    edited = _present(client, tamper(issuer.sign(issuer.badge(ID, "A2", index=2)), creditsEarned=30.0))
    assert edited.status_code == 422 and "凭证被改动过" in edited.get_data(as_text=True)
    issuer.revoked.add(3)
    revoked = _present(client, issuer.sign(issuer.badge(ID, "A3", code="GX-A-003", index=3)))
    assert revoked.status_code == 422 and "已被发证平台 甲省继续教育平台 吊销" in revoked.get_data(as_text=True)
    assert _counts(db_session) == before
    from lms.core.audit import AuditEvent

    reasons = list(db_session.scalars(select(AuditEvent.detail).where(
        AuditEvent.action == "federation.credit_transfer_refused").order_by(AuditEvent.id)))
    assert [r["reason"] for r in reasons] == ["duplicate", "tampered", "revoked"]
    empty = client.post("/me/transfers", data={"csrf_token": _csrf_token(client.get("/me/transfers").get_data(as_text=True))})
    assert empty.status_code == 400 and "请填写" in empty.get_data(as_text=True)


def test_a_link_not_on_a_trusted_issuer_is_never_fetched(client, login, world, issuer):
    login(world["learner"])
    page = client.get("/me/transfers")
    response = client.post("/me/transfers", data={"csrf_token": _csrf_token(page.get_data(as_text=True)),
                                                  "link": "https://evil.example.com/credentials/shared/gxc_x"})
    assert response.status_code == 422 and "不在本平台信任的发证平台列表中" in response.get_data(as_text=True)
    assert not any("evil" in url for url in issuer.fetched)


def test_the_admin_manages_the_trust_list(client, login, world, issuer, db_session):
    login(world["admin"])
    page = client.get("/admin/federation/issuers")
    assert page.status_code == 200 and "甲省继续教育平台" in page.get_data(as_text=True)
    other = FakeIssuer(base="https://b.example.gov.cn", name="乙省平台")
    added = client.post("/admin/federation/issuers", data={
        "csrf_token": _csrf_token(page.get_data(as_text=True)), "issuer_id": other.issuer_id, "name": other.name,
        "keys": json.dumps(other.jwks())})
    assert added.status_code == 303
    issuer_row = db_session.scalar(select(TrustedIssuer).where(TrustedIssuer.name == "乙省平台"))
    assert set(issuer_row.pinned_keys) == set(other.published) and issuer_row.jwks_url is None
    bad = client.post("/admin/federation/issuers", data={
        "csrf_token": _csrf_token(page.get_data(as_text=True)), "issuer_id": "https://c.example.gov.cn/", "name": "丙",
        "keys": "[1, 2]"})
    assert bad.status_code == 400 and "没有可用的 Ed25519 密钥" in bad.get_data(as_text=True)


def test_a_consent_link_serves_one_credential_until_revoked(app, client, login, make_user, db_session, ctx):
    from datetime import datetime

    from lms.catalog.models import Course, CourseStatus
    from lms.certificates import services as certificates
    from lms.credits import services as ledger

    owner = make_user()
    course = db_session.scalar(select(Course).where(Course.code == "GX-NS-001", Course.status == CourseStatus.PUBLISHED))
    cert = certificates.issue_course_certificate(
        ledger.record_course_completion(owner, course, completed_at=datetime(2026, 3, 1, 4), exam_score=80))
    db_session.commit()
    login(owner)
    mine = client.get("/me/certificates").get_data(as_text=True)
    created = client.post(f"/me/certificates/{cert.number}/consent", data={"csrf_token": _csrf_token(mine)})
    assert created.status_code == 200
    import re

    url = re.search(r'id="consent-url"[^>]*>([^<]+)<', created.get_data(as_text=True)).group(1)
    path = url[url.index("/credentials/shared/"):]
    served = client.get(path)
    assert served.status_code == 200 and served.mimetype == "application/vc+jwt"
    assert served.get_data(as_text=True) == cert.credential_jwt and served.headers["Cache-Control"] == "no-store"
    links = client.get("/me/consent-links").get_data(as_text=True)
    link_id = re.search(r"/me/consent-links/(\d+)/revoke", links).group(1)
    client.post(f"/me/consent-links/{link_id}/revoke", data={"csrf_token": _csrf_token(links)})
    assert client.get(path).status_code == 404


def test_presenting_and_reading_consent_links_are_rate_limited(app, client, login, world, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_TRANSFER_RATE_LIMIT", "2 per minute")
    login(world["learner"])
    token = _csrf_token(client.get("/me/transfers").get_data(as_text=True))
    statuses = [client.post("/me/transfers", data={"csrf_token": token, "link": ""}).status_code for _ in range(3)]
    assert statuses == [400, 400, 429]
    reads = [client.get("/credentials/shared/gxc_nothing").status_code for _ in range(3)]
    assert reads == [404, 404, 429]
    made = [client.post("/me/certificates/NOSUCHNUMBER/consent", data={"csrf_token": token}).status_code
            for _ in range(3)]
    assert made == [303, 303, 429]
