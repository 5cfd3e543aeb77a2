"""HR API tokens: an optional end date, rotation with a grace period, wrong secrets limited per key
id and address; the OpenAPI region parameter accepts exactly the regions the API knows."""

import re
from datetime import UTC, date, datetime, time, timedelta

import jsonschema
import pytest
import yaml
from sqlalchemy import select

from lms.accounts.models import Role
from lms.accounts.regions import PROVINCES
from lms.api import services
from lms.api.v1 import OPENAPI_FILE
from lms.core import clock
from lms.core.audit import AuditEvent
from tests.records_helpers import UNIT_A, employee

API = "/api/v1/credit-records"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def call(client, token, address="10.7.0.1"):
    return client.get(API, headers=bearer(token), environ_base={"REMOTE_ADDR": address})


@pytest.fixture
def admin(db_session, make_user):
    employee(make_user, UNIT_A)
    return make_user(roles=(Role.ADMIN,), real_name="管理员")


def issue(app, db_session, actor, **kw):
    with app.test_request_context():
        client, token = services.issue_client(actor, services.ClientRequest(name=kw.pop("name", "人事系统"), **kw))
        db_session.commit()
    return client, token


def local_today(app):
    with app.app_context():
        return clock.now().astimezone(clock.local_zone()).date()


# ---------------------------------------------------------------- expiry

def test_a_token_with_an_end_date_works_through_that_day_and_then_says_it_expired(app, client, db_session,
                                                                                   admin):
    last_day = local_today(app) + timedelta(days=10)
    api_client, token = issue(app, db_session, admin, region="110000", expires_on=last_day)
    assert call(client, token).status_code == 200
    with app.app_context():
        zone = clock.local_zone()
    # The last minute of the last day (clock.freeze wants UTC).
    end = datetime.combine(last_day, time(23, 59), tzinfo=zone).astimezone(UTC)
    with clock.freeze(end):
        assert call(client, token).status_code == 200
    with clock.freeze(end + timedelta(minutes=2)):
        response = call(client, token)
    assert response.status_code == 401 and response.json["error"]["code"] == "token_expired"
    assert last_day.isoformat() in response.json["error"]["message"] and "WWW-Authenticate" in response.headers


@pytest.mark.parametrize("days, message", [(-1, "不能早于今天"), (5 * 366 + 1, "最长")])
def test_end_dates_in_the_past_or_too_far_ahead_are_refused(app, db_session, admin, days, message):
    from lms.core.errors import InvalidInput

    with app.test_request_context(), pytest.raises(InvalidInput, match=message) as refused:
        services.issue_client(admin, services.ClientRequest(name="x", region="110000",
                                                            expires_on=local_today(app) + timedelta(days=days)))
    assert refused.value.field == "expires_on"


def test_the_page_issues_a_token_with_an_end_date_and_lists_it(app, client, login, db_session, admin,
                                                               csrf_token):
    login(admin)
    page = client.get("/api-clients").get_data(as_text=True)
    assert 'type="date"' in page and "有效期至" in page
    last_day = local_today(app) + timedelta(days=30)
    response = client.post("/api-clients", data={"csrf_token": csrf_token(page), "scope_kind": "region",
                                                 "name": "职称系统", "region": "110000",
                                                 "expires_on": last_day.isoformat()})
    assert response.status_code == 303
    listing = client.get("/api-clients").get_data(as_text=True)
    assert last_day.isoformat() in listing
    bad = client.post("/api-clients", data={"csrf_token": csrf_token(page), "scope_kind": "region",
                                            "name": "旧系统", "region": "110000", "expires_on": "2000-01-01"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "不能早于今天" in html and 'value="旧系统"' in html


# ---------------------------------------------------------------- rotation

def test_rotation_gives_a_new_secret_and_the_old_one_works_for_the_grace_period(app, client, db_session, admin):
    api_client, old = issue(app, db_session, admin, region="110000")
    with app.test_request_context():
        new = services.rotate_client(admin, api_client, grace=timedelta(hours=24))
        db_session.commit()
    assert new.split(".")[0] == old.split(".")[0] and new != old  # the same key id, a new secret
    assert call(client, new).status_code == 200 and call(client, old).status_code == 200
    with clock.freeze(clock.now() + timedelta(hours=24, minutes=1)):
        assert call(client, new).status_code == 200
        refused = call(client, old)
    assert refused.status_code == 401 and refused.json["error"]["code"] == "invalid_token"
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "api_client.rotate"))
    assert event.actor_id == admin.id and event.target_id == str(api_client.id)


def test_rotation_without_grace_ends_the_old_secret_at_once(app, client, db_session, admin):
    api_client, old = issue(app, db_session, admin, region="110000")
    with app.test_request_context():
        new = services.rotate_client(admin, api_client, grace=timedelta(0))
        db_session.commit()
    assert call(client, old).status_code == 401 and call(client, new).status_code == 200


def test_rotating_twice_ends_the_first_secret(app, client, db_session, admin):
    api_client, first = issue(app, db_session, admin, region="110000")
    with app.test_request_context():
        second = services.rotate_client(admin, api_client, grace=timedelta(days=7))
        third = services.rotate_client(admin, api_client, grace=timedelta(days=7))
        db_session.commit()
    assert call(client, first).status_code == 401
    assert call(client, second).status_code == 200 and call(client, third).status_code == 200


def test_the_page_rotates_a_token_and_shows_the_new_one_once(app, client, login, db_session, admin, csrf_token):
    api_client, old = issue(app, db_session, admin, region="110000")
    login(admin)
    page = client.get("/api-clients").get_data(as_text=True)
    assert f'action="/api-clients/{api_client.id}/rotate"' in page
    response = client.post(f"/api-clients/{api_client.id}/rotate",
                           data={"csrf_token": csrf_token(page), "grace_hours": "0"}, follow_redirects=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    token = re.search(r'id="issued-token" readonly value="([^"]+)"', response.get_data(as_text=True)).group(1)
    assert "已更换" in response.get_data(as_text=True)
    assert call(client, token).status_code == 200 and call(client, old).status_code == 401
    assert "issued-token" not in client.get("/api-clients").get_data(as_text=True)


def test_an_auditor_cannot_rotate_another_regions_token(app, client, login, db_session, admin, make_user,
                                                        csrf_token):
    api_client, _token = issue(app, db_session, admin, region="440000")
    login(make_user(roles=(Role.HR_AUDITOR,), region_code="110000"))
    page = client.get("/api-clients").get_data(as_text=True)
    response = client.post(f"/api-clients/{api_client.id}/rotate", data={"csrf_token": csrf_token(page),
                                                                        "grace_hours": "0"})
    assert response.status_code == 404


# ---------------------------------------------------------------- wrong secrets

def test_wrong_secrets_are_limited_per_key_id_and_address_without_locking_out_the_client(
        app, client, db_session, admin):
    api_client, token = issue(app, db_session, admin, region="110000")
    key_id = token.split(".")[0]
    guesses = [call(client, f"{key_id}.guess{n}", address="10.8.0.1").status_code for n in range(12)]
    allowed = app.config["LMS_API_AUTH_FAILURE_LIMIT"]
    free = int(allowed.split()[0])
    assert guesses[:free] == [401] * free and set(guesses[free:]) == {429}
    refused = call(client, token, address="10.8.0.1")  # not even checked from there for now
    assert refused.status_code == 429 and refused.json["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0 and "凭证" in refused.json["error"]["message"]
    assert call(client, token, address="10.8.0.2").status_code == 200  # the real client elsewhere is served


def test_spraying_key_ids_from_one_address_is_limited_too(app, client, db_session, admin):
    free = int(app.config["LMS_API_AUTH_FAILURE_LIMIT"].split()[0])
    codes = [call(client, f"{n:016x}.secret", address="10.8.1.1").status_code for n in range(free + 2)]
    assert codes[:free] == [401] * free and codes[free:] == [429, 429]


def test_right_secrets_are_not_counted(app, client, db_session, admin, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_API_RATE_LIMIT", "100000 per minute")
    _api_client, token = issue(app, db_session, admin, region="110000")
    assert {call(client, token, address="10.8.2.1").status_code for _ in range(25)} == {200}


# ---------------------------------------------------------------- the region parameter

def _region_schemas():
    document = yaml.safe_load(OPENAPI_FILE.read_text(encoding="utf-8"))
    for path, item in document["paths"].items():
        # A path item also holds non-operations (its own servers, summary, shared parameters).
        for operation in (item[m] for m in ("get", "put", "post", "delete", "patch") if m in item):
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "region":
                    yield path, parameter["schema"]


def test_region_000000_is_not_schema_valid_and_every_valid_region_is_known():
    schemas = list(_region_schemas())
    assert len(schemas) == 2
    for _path, schema in schemas:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate("000000", schema)
        assert set(schema["enum"]) == set(PROVINCES)


def test_every_schema_valid_region_is_answered_not_refused(app, client, db_session, admin, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_API_RATE_LIMIT", "100000 per minute")
    _c, beijing = issue(app, db_session, admin, region="110000")
    _c, everywhere = issue(app, db_session, admin, unit=UNIT_A)
    for code in PROVINCES:
        answer = client.get(API, headers=bearer(beijing), query_string={"region": code})
        assert answer.status_code == (200 if code == "110000" else 403), code
        assert client.get(API, headers=bearer(everywhere), query_string={"region": code}).status_code in (200, 403)
    assert client.get(API, headers=bearer(beijing), query_string={"region": "000000"}).status_code == 400


def test_the_document_names_the_new_token_errors():
    document = yaml.safe_load(OPENAPI_FILE.read_text(encoding="utf-8"))
    unauthorized = document["components"]["responses"]["Unauthorized"]["description"]
    assert "token_expired" in unauthorized
    assert "凭证错误次数过多" in document["components"]["responses"]["TooManyRequests"]["description"]


def test_end_dates_round_trip_through_the_api_client_model(app, db_session, admin):
    last_day = date.today() + timedelta(days=400)
    api_client, _token = issue(app, db_session, admin, region="110000", expires_on=last_day)
    with app.app_context():
        assert services.last_valid_day(api_client) == last_day


def test_an_expired_client_gets_no_more_webhook_events(app, client, db_session, admin, monkeypatch):
    from lms.api import webhooks

    monkeypatch.setitem(app.config, "LMS_WEBHOOK_ALLOW_HTTP", True)
    monkeypatch.setitem(app.config, "LMS_WEBHOOK_ALLOW_PRIVATE", True)
    api_client, token = issue(app, db_session, admin, region="110000", expires_on=local_today(app))
    assert client.post("/api/v1/webhooks", headers=bearer(token),
                       json={"url": "https://hr.example.cn/in"}).status_code == 201
    with app.test_request_context():
        assert [s.api_client_id for s in webhooks.active_subscriptions("credit_record.created")] == [api_client.id]
        with clock.freeze(clock.now() + timedelta(days=1, minutes=1)):
            assert webhooks.active_subscriptions("credit_record.created") == []


def test_a_refused_rotation_says_why_and_changes_nothing(app, client, login, db_session, admin, csrf_token):
    api_client, old = issue(app, db_session, admin, region="110000")
    login(admin)
    page = client.get("/api-clients").get_data(as_text=True)
    response = client.post(f"/api-clients/{api_client.id}/rotate", data={
        "csrf_token": csrf_token(page), "grace_hours": "24", "expires_on": "2000-01-01"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "不能早于今天" in html and "issued-token" not in html
    assert '<details class="mb-2" open>' in html and 'value="2000-01-01"' in html  # what was typed is kept
    assert call(client, old).status_code == 200
