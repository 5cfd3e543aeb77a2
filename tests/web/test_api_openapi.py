"""The OpenAPI document of the HR API: valid, served, and true to what the API answers (schemathesis)."""

from datetime import date
from decimal import Decimal

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lms.accounts.models import Role
from lms.api.v1 import OPENAPI_FILE
from lms.credits.models import CreditOrigin
from lms.exports import records
from tests.records_helpers import UNIT_A, UNIT_B, completion, employee
from tests.web.test_hr_api import issue


def test_the_document_is_valid_openapi_and_served_with_servers(app, client):
    validate(yaml.safe_load(OPENAPI_FILE.read_text(encoding="utf-8")))
    response = client.get("/api/v1/openapi.json")  # public: no token
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.get_json()
    validate(document)
    assert document["servers"] == [{"url": app.config["LMS_PUBLIC_URL"].rstrip("/") + "/api/v1", "description": "本平台"}]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_the_record_schema_names_exactly_the_fields_of_record_json(app, ctx, db_session, make_user):
    from lms.extensions import db

    completion(db_session, employee(make_user, UNIT_A), certificate=True)
    row = next(iter(db.session.execute(records.record_query(records.Scope(), active_only=False))))
    document = yaml.safe_load(OPENAPI_FILE.read_text(encoding="utf-8"))
    schema = document["components"]["schemas"]["CreditRecord"]
    produced = records.record_json(row, full_id_numbers=False)
    assert set(schema["properties"]) == set(produced) == set(schema["required"])
    for name in ("learner", "unit", "region", "course"):
        assert set(schema["properties"][name]["properties"]) == set(produced[name])
    nullable = {name for name, prop in schema["properties"].items() if prop.get("nullable")}
    assert nullable == {"voids_id", "voided_by_id", "reason", "unit", "region", "started_on", "completed_on",
                        "completed_at", "exam_score", "certificate_number", "verification_url", "credential_url",
                        "activity_kind"}
    assert schema["properties"]["origin"]["enum"] == [o.value for o in CreditOrigin]


# ---------------------------------------------------------------- schemathesis against the WSGI app

@pytest.fixture
def api_token(app, ctx, db_session, make_user, monkeypatch):
    """A region client with records (a certificate, a revocation) to read; generous limits."""
    from lms.credits import services as ledger

    monkeypatch.setitem(app.config, "LMS_API_RATE_LIMIT", "100000 per minute")
    monkeypatch.setitem(app.config, "LMS_WEBHOOK_ALLOW_HTTP", True)
    monkeypatch.setitem(app.config, "LMS_WEBHOOK_ALLOW_PRIVATE", True)
    a1, a2 = employee(make_user, UNIT_A), employee(make_user, UNIT_A)
    completion(db_session, a1, certificate=True)
    revoked = completion(db_session, a2, code="GX-DT-002")
    completion(db_session, employee(make_user, UNIT_B, region="440000"))
    admin = make_user(roles=(Role.ADMIN,))
    ledger.revoke_record(admin, revoked.id, reason="重复记录")
    # An entry without a local course (an approved external claim): course code and version are null.
    ledger.record_activity(a1, origin=CreditOrigin.EXTERNAL_CLAIM, title="学术会议", hours=Decimal(3),
                           category="professional", day=date(2026, 5, 20), activity_kind="conference",
                           source=("hour_claim", "1"))
    db_session.commit()
    _client, token = issue(app, db_session, admin, region="110000", full_id_numbers=True)
    return token


# Loaded from the package's file at import time (schemathesis' lazy fixture loader does not run on
# pytest 9); the same document the app serves, whose servers entry only adds the public host.
# The courseware feed (tag federation) lives outside /api/v1 (its paths name their own server, which
# schemathesis does not follow): tests/web/test_federation_pages.py checks its answers against it.
schema = schemathesis.openapi.from_path(str(OPENAPI_FILE)).exclude(tag="federation")

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_the_api_answers_as_documented(app, case, api_token):
    case.call_and_validate(app=app, headers={"Authorization": f"Bearer {api_token}"}, checks=CHECKS)


def test_documented_answers_for_existing_objects(app, client, api_token, db_session, make_user):
    """Cases random data seldom reaches: a credential in scope (and revoked), a webhook that exists, a second page."""
    from sqlalchemy import select

    from lms.certificates.models import Certificate

    headers = {"Authorization": f"Bearer {api_token}"}
    number = db_session.scalar(select(Certificate.number))
    schema["/credentials/{number}"]["GET"].Case(path_parameters={"number": number}).call_and_validate(
        app=app, headers=headers, checks=CHECKS)
    hook = client.post("/api/v1/webhooks", headers=headers, json={"url": "https://hr.example.cn/in"}).get_json()
    schema["/webhooks/{id}"]["GET"].Case(path_parameters={"id": hook["id"]}).call_and_validate(
        app=app, headers=headers, checks=CHECKS)
    schema["/webhooks/{id}"]["DELETE"].Case(path_parameters={"id": hook["id"]}).call_and_validate(
        app=app, headers=headers, checks=CHECKS)
    from lms.certificates import services as certificates

    certificates.revoke_certificate(make_user(roles=(Role.ADMIN,)), number, reason="颁发有误")
    db_session.commit()
    gone = schema["/credentials/{number}"]["GET"].Case(path_parameters={"number": number}).call_and_validate(
        app=app, headers=headers, checks=CHECKS)
    assert gone.status_code == 410
    first = client.get("/api/v1/credit-records?limit=1", headers=headers).get_json()
    response = schema["/credit-records"]["GET"].Case(query={"limit": 1, "cursor": first["next_cursor"]}) \
        .call_and_validate(app=app, headers=headers, checks=CHECKS)
    assert response.status_code == 200 and response.json()["data"]
