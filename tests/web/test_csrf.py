"""CSRF: every request that changes something carries the session's token, and a form whose token
was refused comes back with what was typed (lms/core/csrf.py)."""

import re

import pytest
from sqlalchemy import func, select

from lms.catalog.models import Course, CourseStatus
from lms.extensions import csrf
from tests.conftest import TEST_PASSWORD
from tests.web.test_publishing_pages import new_course

CHANGING = {"POST", "PUT", "PATCH", "DELETE"}

BEARER = "bearer tokens in the Authorization header, never cookies: a cross-site form has nothing to ride on"
PLAYER = ("the player's JSON API checks the token itself (lms/learning/api.py): in the X-CSRFToken header, "
          "or in the JSON body for navigator.sendBeacon, which cannot set headers")

# Every endpoint that changes something without CSRFProtect's check, and why that is safe.
EXEMPT = {
    "api_v1.create_webhook": BEARER,
    "api_v1.delete_webhook": BEARER,
    "learning_api.start_session": PLAYER,
    "learning_api.heartbeat": PLAYER,
    "learning_api.attention": PLAYER,
}


def _exempt(app, endpoint: str) -> bool:
    """Whether Flask-WTF's CSRFProtect skips the endpoint (as ``CSRFProtect._is_exempt`` decides)."""
    blueprint = endpoint.rpartition(".")[0]
    view = app.view_functions[endpoint]
    return app.blueprints.get(blueprint) in csrf._exempt_blueprints \
        or f"{view.__module__}.{view.__name__}" in csrf._exempt_views


def test_no_endpoint_that_changes_something_is_exempt_from_csrf_unless_listed(app):
    changing = {rule.endpoint for rule in app.url_map.iter_rules() if rule.methods & CHANGING}
    assert len(changing) > 40  # the enumeration found the app's endpoints
    exempt = {endpoint for endpoint in changing if _exempt(app, endpoint)}
    assert sorted(exempt - EXEMPT.keys()) == [], "exempt from CSRF protection without a reason in EXEMPT"
    assert sorted(EXEMPT.keys() - exempt) == [], "listed in EXEMPT but protected (or gone): drop the entry"
    assert app.config["WTF_CSRF_ENABLED"] and app.config.get("WTF_CSRF_CHECK_DEFAULT", True)


def _values(html: str, name: str) -> list[str]:
    return re.findall(rf'name="{name}"[^>]*value="([^"]*)"', html) + re.findall(
        rf'value="([^"]*)"[^>]*name="{name}"', html)


def _ticked(html: str, name: str) -> bool:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert tag, f"no {name} box on the page"
    return " checked" in tag.group(0)


@pytest.mark.parametrize("token", ["", "forged", "stale"])
def test_a_login_without_a_valid_token_comes_back_with_the_account_typed(client, client_factory, make_user,
                                                                         csrf_token, token):
    user = make_user()
    if token == "stale":  # a token of another session (the page outlived its session)
        token = csrf_token(client_factory().get("/login").get_data(as_text=True))
    response = client.post("/login", data={"login": user.mobile, "password": TEST_PASSWORD, "remember": "y",
                                           **({"csrf_token": token} if token else {})})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "页面已过期或来源无法确认，您填写的内容已保留" in html
    assert user.mobile in _values(html, "login")
    assert TEST_PASSWORD not in html  # a password is never sent back
    assert _ticked(html, "remember")
    assert response.headers["Cache-Control"] == "no-store"
    # Nothing was done; the page carries a fresh token that signs in.
    assert client.get("/profile").status_code == 302
    fresh = csrf_token(html)
    assert client.post("/login", data={"login": user.mobile, "password": TEST_PASSWORD,
                                       "csrf_token": fresh}).status_code == 302


def test_a_registration_with_a_stale_token_keeps_everything_but_the_passwords(client, client_factory, csrf_token,
                                                                             db_session):
    from lms.accounts.models import User
    from tests.web.test_accounts_pages import form_data

    stale = csrf_token(client_factory().get("/register").get_data(as_text=True))
    before = db_session.scalar(select(func.count(User.id)))
    response = client.post("/register", data=form_data(stale))
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "页面已过期或来源无法确认" in html
    assert 'value="王芳"' in html and 'value="北京示例设计院"' in html and 'value="13711112222"' in html
    assert TEST_PASSWORD not in html
    assert db_session.scalar(select(func.count(User.id))) == before


def test_an_edit_form_comes_back_with_what_was_typed_not_what_is_stored(client, publisher, login, csrf_token,
                                                                        db_session):
    login(publisher)
    new_course(client, csrf_token)
    course = db_session.scalar(select(Course).where(Course.code == "GX-WEB-001"))
    page = client.get(f"/publish/courses/{course.id}").get_data(as_text=True)
    subject_id = page.split('name="subject_id"')[1].split('value="')[1].split('"')[0]
    response = client.post(f"/publish/courses/{course.id}", data={
        "csrf_token": "forged", "title": "改过的名称", "subject_id": subject_id, "category": "public",
        "summary": "", "syllabus": "", "tags": "新关键词", "credit_hours": "", "pass_score": "75"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "页面已过期或来源无法确认，您填写的内容已保留" in html
    assert 'value="改过的名称"' in html and 'value="新关键词"' in html and 'value="75"' in html
    assert not _ticked(html, "has_exam")  # unticked, as sent (it is ticked in the database)
    db_session.refresh(course)
    assert course.title == "应急预案编制实务" and course.tags == ["应急预案"]


def test_a_form_posted_to_another_url_comes_back_on_the_page_it_was_sent_from(client, client_factory, publisher,
                                                                             make_user, login, csrf_token,
                                                                             db_session):
    from lms.accounts.models import Role

    login(publisher)
    new_course(client, csrf_token)
    course = db_session.scalar(select(Course).where(Course.code == "GX-WEB-001"))
    course.status = CourseStatus.IN_REVIEW
    db_session.commit()
    reviewer = client_factory()
    token = csrf_token(reviewer.get("/login").get_data(as_text=True))
    assert reviewer.post("/login", data={"login": make_user(roles=(Role.REVIEWER,)).mobile,
                                         "password": TEST_PASSWORD, "csrf_token": token}).status_code == 302
    page = f"http://localhost/review/courses/{course.id}"
    response = reviewer.post(f"/review/courses/{course.id}/reject", data={"csrf_token": "forged",
                                                                         "reason": "第二章缺少案例分析。"},
                             headers={"Referer": page, "Origin": "http://localhost"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "页面已过期或来源无法确认，您填写的内容已保留" in html
    assert "第二章缺少案例分析。</textarea>" in html
    db_session.refresh(course)
    assert course.status == CourseStatus.IN_REVIEW


def test_a_button_without_a_page_to_go_back_to_gets_the_error_page(client, make_user, login):
    login(make_user())
    response = client.post("/logout", data={"csrf_token": "forged"})
    assert response.status_code == 400 and "页面已过期" in response.get_data(as_text=True)
    assert client.get("/profile").status_code == 200


def test_a_button_sent_from_a_page_shows_that_page_again_and_does_nothing(client, make_user, login, db_session):
    from lms.accounts.sessions import live_sessions

    user = make_user()
    login(user)
    live = len(live_sessions(user))
    response = client.post("/logout", data={"csrf_token": "forged"}, headers={"Referer": "http://localhost/profile"})
    assert response.status_code == 400
    assert "页面已过期或来源无法确认，操作未完成" in response.get_data(as_text=True)
    assert client.get("/profile").status_code == 200
    assert len(live_sessions(user)) == live


@pytest.mark.parametrize("headers", [{"Origin": "https://elsewhere.example"},
                                     {"Origin": "null"},
                                     {"Referer": "https://elsewhere.example/form.html"}])
def test_a_form_sent_from_another_site_is_not_filled_in_again(client, headers):
    response = client.post("/register", data={"real_name": "跨站填写", "csrf_token": "forged"}, headers=headers)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "页面已过期" in html
    assert "跨站填写" not in html


def test_a_script_gets_a_json_error(client, publisher, login, csrf_token, db_session):
    login(publisher)
    new_course(client, csrf_token)
    course = db_session.scalar(select(Course).where(Course.code == "GX-WEB-001"))
    response = client.post(f"/publish/courses/{course.id}/outline", json={"outline": []})
    assert response.status_code == 400 and response.json["error"]["code"] == "csrf"
    assert "页面已过期" in response.json["error"]["message"]
    deleted = client.delete("/publish/uploads/1")
    assert deleted.status_code == 400 and deleted.json["error"]["code"] == "csrf"
