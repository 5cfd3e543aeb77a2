"""The /api-clients pages: who may issue and revoke which clients; the token is shown once."""

import json
import re
from html import unescape

import pytest
from sqlalchemy import select

from lms.accounts.models import Organization, Role
from lms.api.models import ApiClient, TokenReveal
from lms.core.audit import AuditEvent
from tests.records_helpers import UNIT_A, UNIT_B, completion, employee


@pytest.fixture
def people(db_session, make_user):
    employee(make_user, UNIT_A)  # registers unit A (Beijing)
    employee(make_user, UNIT_B, region="440000")  # and unit B (Guangdong)
    return dict(
        admin=make_user(roles=(Role.ADMIN,), real_name="管理员"),
        auditor_bj=make_user(roles=(Role.HR_AUDITOR,), region_code="110000", real_name="北京审核"),
        auditor_gd=make_user(roles=(Role.HR_AUDITOR,), region_code="440000", real_name="广东审核"),
        unit_admin=make_user(roles=(Role.UNIT_ADMIN,), real_name="单位管理员", organization=db_session.scalar(
            select(Organization).where(Organization.credit_code == UNIT_A))),
        learner=make_user(real_name="学员"),
    )


def issue(client, csrf_token, **form):
    page = client.get("/api-clients")
    data = {"csrf_token": csrf_token(page.get_data(as_text=True)), "scope_kind": "region", **form}
    return client.post("/api-clients", data=data, follow_redirects=True)


def shown_token(response) -> str:
    match = re.search(r'id="issued-token" readonly value="([^"]+)"', response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)
    return match.group(1)


def test_an_admin_issues_a_token_shown_once_that_works(client, login, people, csrf_token, db_session):
    login(people["admin"])
    response = issue(client, csrf_token, name="省人社厅职称系统", region="440000")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    token = shown_token(response)
    stored = db_session.scalar(select(ApiClient).where(ApiClient.name == "省人社厅职称系统"))
    key_id, secret = token.split(".", 1)
    assert stored.key_id == key_id and stored.region_code == "440000" and stored.organization_id is None
    assert secret not in stored.secret_hash and stored.full_id_numbers is False
    listing = client.get("/api-clients").get_data(as_text=True)
    assert "省人社厅职称系统" in listing and secret not in listing and "issued-token" not in listing
    assert "style=" not in listing and "<script>" not in listing
    api = client.get("/api/v1/credit-records", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "api_client.issue"))
    assert event.actor_id == people["admin"].id and event.target_id == str(stored.id)


def test_issuing_redirects_to_an_empty_form_showing_the_token_once(client, login, people, csrf_token, db_session):
    login(people["admin"])
    page = client.get("/api-clients").get_data(as_text=True)
    posted = client.post("/api-clients", data={"csrf_token": csrf_token(page), "scope_kind": "region",
                                               "name": "市职称评审系统", "region": "440000"})
    assert posted.status_code == 303 and posted.headers["Location"] == "/api-clients"
    assert "issued-token" not in posted.get_data(as_text=True)
    shown = client.get("/api-clients")
    html = shown.get_data(as_text=True)
    token = shown_token(shown)
    assert token.split(".")[1] not in posted.headers["Location"] + posted.headers.get("Set-Cookie", "")
    assert shown.headers["Cache-Control"] == "no-store" and "市职称评审系统" in html
    name_field = re.search(r'<input[^>]*name="name"[^>]*>', html).group(0)
    assert 'value="' not in name_field or 'value=""' in name_field
    button = re.search(r'<button[^>]*id="copy-token"[^>]*>', html).group(0)
    messages = json.loads(unescape(re.search(r"data-messages='([^']+)'", button).group(1)))
    assert messages["copied"] == "已复制" and messages["manual"].startswith("请手动复制")
    assert "issued-token" not in client.get("/api-clients").get_data(as_text=True)  # shown once
    assert db_session.scalar(select(TokenReveal)) is None


def test_a_held_token_is_shown_to_its_issuer_only_and_not_after_it_expires(app, ctx, db_session, people):
    from datetime import timedelta

    from lms.api import services
    from lms.core import clock

    admin, other = people["admin"], people["auditor_bj"]
    api_client, token = services.issue_client(admin, services.ClientRequest(name="甲", region="110000"))
    key = services.hold_token(admin, api_client, token)
    assert db_session.get(TokenReveal, key).token_encrypted != token and token not in key
    assert services.take_token(other, key) is None and db_session.get(TokenReveal, key) is None
    key = services.hold_token(admin, api_client, token)
    with clock.freeze(clock.utcnow_naive() + timedelta(seconds=services.REVEAL_SECONDS + 1)):
        assert services.take_token(admin, key) is None
    assert services.take_token(admin, services.hold_token(admin, api_client, token)) == (api_client, token, False)


def test_an_auditor_issues_only_for_their_region_and_its_units(client, login, people, csrf_token, db_session):
    login(people["auditor_bj"])
    form = issue(client, csrf_token, name="x").get_data(as_text=True)
    assert "北京" in form and "广东" not in form  # only their regions to choose from
    refused = issue(client, csrf_token, name="越权", region="440000")
    assert refused.status_code in (400, 403) and "越权" not in [c.name for c in db_session.scalars(select(ApiClient))]
    refused = issue(client, csrf_token, name="外省单位", scope_kind="unit", unit=UNIT_B)
    assert refused.status_code == 403 and "不在您负责的地区" in refused.get_data(as_text=True)
    ok = issue(client, csrf_token, name="本市单位", scope_kind="unit", unit=UNIT_A.lower(), full_id_numbers="y")
    assert ok.status_code == 200
    shown_token(ok)
    stored = db_session.scalar(select(ApiClient).where(ApiClient.name == "本市单位"))
    assert stored.organization.credit_code == UNIT_A and stored.full_id_numbers is True
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "api_client.issue"))
    assert event.detail["full_id_numbers"] is True
    assert db_session.scalar(select(ApiClient).where(ApiClient.name.in_(["越权", "外省单位"]))) is None


def test_an_auditors_unit_client_stays_within_the_auditors_region(client, ctx, login, people, csrf_token, db_session,
                                                                  make_user):
    """Unit A (Beijing) has an approved employee registered in Guangdong: the Beijing auditor's client skips them."""
    local = completion(db_session, employee(make_user, UNIT_A, real_name="本市职工"))
    distant = completion(db_session, employee(make_user, UNIT_A, region="440000", real_name="外省职工"))
    login(people["auditor_bj"])
    token = shown_token(issue(client, csrf_token, name="本市单位", scope_kind="unit", unit=UNIT_A))
    stored = db_session.scalar(select(ApiClient).where(ApiClient.name == "本市单位"))
    assert stored.organization.credit_code == UNIT_A and stored.region_code == "110000"
    page = client.get("/api-clients").get_data(as_text=True)
    assert f"（{UNIT_A}）" in page and "仅限所在地区为北京市（110000）的职工" in page
    api = client.get("/api/v1/credit-records", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    ids = [r["id"] for r in api.get_json()["data"]]
    assert local.id in ids and distant.id not in ids
    refused = client.get("/api/v1/credit-records", headers={"Authorization": f"Bearer {token}"},
                         query_string={"region": "440000"})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "out_of_scope"
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "api_client.issue"))
    assert event.detail["region_code"] == "110000" and event.detail["organization_id"] == stored.organization_id


def test_an_admins_unit_client_sees_the_whole_unit(app, db_session, make_user, people):
    """An admin is not limited to a region: their unit client reads the unit wherever its employees live."""
    from lms.api import services
    from lms.exports import records

    with app.test_request_context():
        api_client, _token = services.issue_client(people["admin"], services.ClientRequest(name="全单位", unit=UNIT_A))
        assert api_client.region_code is None
        assert records.scope_of_client(api_client).region_code is None


@pytest.mark.parametrize(("form", "message"), [
    ({"name": "", "region": "110000"}, "请填写接口名称"),
    ({"name": "无范围", "region": ""}, "二选一"),
    ({"name": "坏代码", "scope_kind": "unit", "unit": "123"}, "没有登记统一社会信用代码"),
])
def test_bad_issue_forms_keep_the_input_and_change_nothing(client, login, people, csrf_token, db_session, form,
                                                           message):
    login(people["admin"])
    response = issue(client, csrf_token, **form)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert db_session.scalar(select(ApiClient)) is None


def test_auditors_see_and_revoke_only_their_regions_clients(client, login, people, csrf_token, db_session):
    login(people["admin"])
    shown_token(issue(client, csrf_token, name="广东地区", region="440000"))
    shown_token(issue(client, csrf_token, name="北京单位甲", scope_kind="unit", unit=UNIT_A))
    gd = db_session.scalar(select(ApiClient).where(ApiClient.name == "广东地区"))
    bj_unit = db_session.scalar(select(ApiClient).where(ApiClient.name == "北京单位甲"))
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/api-clients").get_data(as_text=True))})

    login(people["auditor_bj"])
    page = client.get("/api-clients").get_data(as_text=True)
    assert "北京单位甲" in page and "广东地区" not in page
    token = csrf_token(page)
    assert client.post(f"/api-clients/{gd.id}/revoke", data={"csrf_token": token}).status_code == 404
    assert gd.revoked_at is None
    assert client.post(f"/api-clients/{bj_unit.id}/revoke", data={}).status_code == 400  # CSRF
    assert bj_unit.revoked_at is None
    done = client.post(f"/api-clients/{bj_unit.id}/revoke", data={"csrf_token": token})
    assert done.status_code == 302
    db_session.refresh(bj_unit)
    assert bj_unit.revoked_at is not None and bj_unit.revoked_by_id == people["auditor_bj"].id
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "api_client.revoke"))
    assert event.actor_id == people["auditor_bj"].id and event.target_id == str(bj_unit.id)
    assert "已吊销" in client.get("/api-clients").get_data(as_text=True)


@pytest.mark.parametrize("who", ["unit_admin", "learner"])
def test_other_roles_are_refused(client, login, people, csrf_token, who):
    login(people[who])
    assert client.get("/api-clients").status_code == 403
    token = csrf_token(client.get("/me/hours").get_data(as_text=True))
    assert client.post("/api-clients", data={"csrf_token": token, "name": "x", "region": "110000"}).status_code == 403


def test_anonymous_visitors_go_to_the_login_page(client):
    assert client.get("/api-clients").status_code == 302
