"""Two app-wide faults: a NUL character anywhere in what is sent (address, query, form, JSON) is refused
with 400 before any view runs (PostgreSQL cannot store it, SQLite would store it silently); and the
error page of a request whose transaction failed rolls the session back before it renders."""

import io
import re

import pytest
from sqlalchemy import func, select

from lms.accounts.models import Region, User
from lms.claims.models import HourClaim
from lms.extensions import db
from tests.claims_helpers import PDF
from tests.conftest import TEST_PASSWORD, _csrf_token, committed_app, credit_code, id_number, session_per_thread
from tests.records_helpers import UNIT_A, employee

NUL_MESSAGE = "无效的空字符"


@pytest.mark.parametrize("url", [
    "/programme/institutions?q=%00", "/programme/institutions?kind=%00", "/programme/bases?q=%00",
    "/programme/bases?q=a%00b", "/search?q=%00", "/programme/institutions?%00=1", "/catalog/%00",
])
def test_a_nul_in_the_address_or_query_is_a_clear_400(client, url):
    response = client.get(url)
    assert response.status_code == 400 and NUL_MESSAGE in response.get_data(as_text=True)


def test_a_nul_in_a_form_value_changes_nothing(client, login, make_user, db_session):
    learner = employee(make_user, UNIT_A, real_name="甲学员")
    login(learner)
    token = _csrf_token(client.get("/me/claims/new").get_data(as_text=True))
    response = client.post("/me/claims/new", content_type="multipart/form-data", data={
        "kind": "conference", "title": "标题\x00注入", "activity_date": "2026-05-20", "hours": "4",
        "category": "professional", "description": "参加会议两天，听取报告并交流。", "csrf_token": token,
        "evidence": [(io.BytesIO(PDF), "a.pdf")]})
    assert response.status_code == 400 and NUL_MESSAGE in response.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(HourClaim)) == 0
    urlencoded = client.post("/me/claims/new", data={"title": "x", "description": "\x00", "csrf_token": token})
    assert urlencoded.status_code == 400 and NUL_MESSAGE in urlencoded.get_data(as_text=True)


def test_a_nul_in_a_json_string_is_refused_as_json(client):
    response = client.post("/api/v1/learning/heartbeat", json={"session_id": "\x00", "seq": 1})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_input"


def test_ordinary_text_with_newlines_and_tabs_still_passes(client):
    assert client.get("/programme/institutions?q=%E6%9C%BA%E6%9E%84%09%0A").status_code == 200


# ---------------------------------------------------------------- the error page after a failed flush


@pytest.fixture(scope="module")
def failing_app(tmp_path_factory):
    """An app that answers errors as served (PROPAGATE_EXCEPTIONS off), with one view whose flush fails."""
    with committed_app(tmp_path_factory.mktemp("faults"), "faults", packages=(),
                       PROPAGATE_EXCEPTIONS=False) as application:

        @application.post("/_test/failed-flush")
        def failed_flush():
            db.session.add(Region(code="110000", name="重复的地区"))  # exists: IntegrityError at flush
            db.session.flush()

        yield application


def test_the_error_page_of_a_failed_transaction_is_shown_to_a_signed_in_user(failing_app, monkeypatch):
    session_per_thread(failing_app, monkeypatch)
    with failing_app.test_request_context():
        from lms.accounts import services as accounts

        accounts.create_person(None, accounts.PersonData(
            real_name="错误页用户", id_number=id_number("11010519800101777"), password=TEST_PASSWORD,
            mobile="13712340777", region_code="110000", employer_name="测试单位",
            employer_credit_code=credit_code("91110105MA01ABCD2")), roles=())
        db.session.commit()
        db.session.remove()
    client = failing_app.test_client()
    token = _csrf_token(client.get("/login").get_data(as_text=True))
    signed_in = client.post("/login", data={"login": "13712340777", "password": TEST_PASSWORD, "csrf_token": token})
    assert signed_in.status_code == 302, re.sub(r"\s+", " ", signed_in.get_data(as_text=True))[-3000:]
    token = _csrf_token(client.get("/me/claims/new").get_data(as_text=True))
    response = client.post("/_test/failed-flush", data={"csrf_token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 500 and "服务暂时不可用" in html and "错误页用户" in html  # the page, signed in
    with failing_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) >= 1  # the database is still usable
        db.session.remove()
