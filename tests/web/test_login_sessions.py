"""Login sessions are kept on the server: logout, "log out everywhere", a password change and the
30-day limit end them, whichever cookie (session or remember-me) a browser still holds."""

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from sqlalchemy import select

from lms.core import clock
from tests.conftest import TEST_PASSWORD
from tests.learning_helpers import course

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/126.0.0.0 Mobile Safari/537.36")


def sign_in(client, user, csrf_token, *, remember=False, agent=FIREFOX):
    client.environ_base["HTTP_USER_AGENT"] = agent
    token = csrf_token(client.get("/login").get_data(as_text=True))
    data = {"login": user.mobile, "password": TEST_PASSWORD, "csrf_token": token}
    if remember:
        data["remember"] = "y"
    response = client.post("/login", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def copy_cookies(source, target, *names):
    """What someone who copied the browser's cookies (or its cookie file) would hold."""
    target.environ_base["HTTP_USER_AGENT"] = source.environ_base.get("HTTP_USER_AGENT", "")
    for name in names:
        cookie = source.get_cookie(name)
        assert cookie is not None, f"no {name} cookie"
        target.set_cookie(name, cookie.value)


def test_a_session_cookie_copied_before_logout_no_longer_opens_the_profile(client_factory, make_user,
                                                                            csrf_token):
    user = make_user()
    browser, copy = client_factory(), client_factory()
    sign_in(browser, user, csrf_token)
    copy_cookies(browser, copy, "session")
    assert copy.get("/profile").status_code == 200  # the copy works while the session lasts
    token = csrf_token(browser.get("/profile").get_data(as_text=True))
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 302
    response = copy.get("/profile")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_remember_me_cookie_copied_before_logout_is_revoked_too(client_factory, make_user, csrf_token):
    user = make_user()
    browser, copy = client_factory(), client_factory()
    sign_in(browser, user, csrf_token, remember=True)
    copy_cookies(browser, copy, "remember_token")  # no session cookie: the browser was restarted
    assert copy.get("/profile").status_code == 200
    token = csrf_token(browser.get("/profile").get_data(as_text=True))
    browser.post("/logout", data={"csrf_token": token})
    copy.delete_cookie("session")
    assert copy.get("/profile").status_code == 302


def test_logout_ends_only_this_devices_session(client_factory, make_user, csrf_token):
    user = make_user()
    here, there = client_factory(), client_factory()
    sign_in(here, user, csrf_token)
    sign_in(there, user, csrf_token, agent=ANDROID)
    token = csrf_token(here.get("/profile").get_data(as_text=True))
    here.post("/logout", data={"csrf_token": token})
    assert here.get("/profile").status_code == 302
    assert there.get("/profile").status_code == 200


def test_remember_me_lasts_at_most_30_days(client_factory, make_user, csrf_token):
    user = make_user()
    browser, later = client_factory(), client_factory()
    response = sign_in(browser, user, csrf_token, remember=True)
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token="))
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
    # A browser that kept the cookie longer (or a forged expiry) is refused by the server.
    copy_cookies(browser, later, "remember_token")
    with clock.freeze(clock.now() + timedelta(days=29)):
        assert later.get("/profile").status_code == 200
    later.delete_cookie("session")
    with clock.freeze(clock.now() + timedelta(days=31)):
        assert later.get("/profile").status_code == 302


def test_profile_lists_sessions_and_logs_out_everywhere(client_factory, make_user, csrf_token):
    user = make_user()
    here, phone, remembered = client_factory(), client_factory(), client_factory()
    sign_in(here, user, csrf_token)
    sign_in(phone, user, csrf_token, agent=ANDROID)
    sign_in(remembered, user, csrf_token, remember=True)
    remembered.delete_cookie("session")  # only the remember-me cookie is left
    page = here.get("/profile").get_data(as_text=True)
    assert "Firefox" in page and "Windows" in page and "Android" in page and "Chrome" in page
    assert "当前设备" in page and "最近活动" in page
    assert re.search(r'<a [^>]*href="/sessions/logout-all">退出所有设备</a>', page)
    confirm = here.get("/sessions/logout-all").get_data(as_text=True)
    assert "共 3 个" in confirm and "确认退出所有设备" in confirm
    assert phone.get("/profile").status_code == 200  # nothing ends before the confirmation
    response = here.post("/sessions/logout-all", data={"csrf_token": csrf_token(confirm)})
    assert response.status_code == 302
    for c in (here, phone, remembered):
        assert c.get("/profile").status_code == 302
    assert "已退出所有设备" in here.get(response.headers["Location"], follow_redirects=True).get_data(as_text=True)


def test_log_out_everywhere_needs_a_csrf_token(client, make_user, csrf_token):
    sign_in(client, make_user(), csrf_token)
    assert client.post("/sessions/logout-all").status_code == 400
    assert client.get("/profile").status_code == 200


def test_one_other_session_can_be_ended_from_the_profile(client_factory, make_user, csrf_token, db_session):
    from lms.accounts.models import UserSession

    user = make_user()
    here, phone = client_factory(), client_factory()
    sign_in(here, user, csrf_token)
    sign_in(phone, user, csrf_token, agent=ANDROID)
    phone_session = db_session.scalar(select(UserSession).where(UserSession.user_id == user.id)
                                      .order_by(UserSession.id.desc()))
    page = here.get("/profile").get_data(as_text=True)
    response = here.post(f"/sessions/{phone_session.id}/logout", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    assert phone.get("/profile").status_code == 302
    assert here.get("/profile").status_code == 200


def test_a_session_of_someone_else_cannot_be_ended(client_factory, make_user, csrf_token, db_session):
    from lms.accounts.models import UserSession

    alice, bob = make_user(), make_user()
    mine, theirs = client_factory(), client_factory()
    sign_in(mine, alice, csrf_token)
    sign_in(theirs, bob, csrf_token)
    bobs = db_session.scalar(select(UserSession).where(UserSession.user_id == bob.id))
    page = mine.get("/profile").get_data(as_text=True)
    assert mine.post(f"/sessions/{bobs.id}/logout", data={"csrf_token": csrf_token(page)}).status_code == 404
    assert theirs.get("/profile").status_code == 200


def test_changing_the_password_ends_remembered_sessions_elsewhere(client_factory, make_user, csrf_token,
                                                                   db_session):
    from lms.accounts.models import UserSession

    user = make_user()
    here, remembered = client_factory(), client_factory()
    sign_in(here, user, csrf_token)
    sign_in(remembered, user, csrf_token, remember=True)
    remembered.delete_cookie("session")
    page = here.get("/profile").get_data(as_text=True)
    assert here.post("/profile", data={"current_password": TEST_PASSWORD, "password": "NewPass2026x",
                                       "password_confirm": "NewPass2026x",
                                       "csrf_token": csrf_token(page)}).status_code == 302
    assert here.get("/profile").status_code == 200
    assert remembered.get("/profile").status_code == 302
    live = db_session.scalars(select(UserSession).where(UserSession.user_id == user.id,
                                                        UserSession.revoked_at.is_(None))).all()
    assert len(live) == 1  # the list on the profile page shows only this device


def test_heartbeats_stop_once_the_session_was_logged_out(client_factory, make_user, csrf_token, db_session):
    c = course(db_session)
    user = make_user()
    browser, copy = client_factory(), client_factory()
    sign_in(browser, user, csrf_token)
    page = browser.get(f"/courses/{c.code}").get_data(as_text=True)
    browser.post(f"/learn/{c.code}/enrol", data={"csrf_token": csrf_token(page)})
    token = csrf_token(browser.get("/my/learning").get_data(as_text=True))
    copy_cookies(browser, copy, "session")
    headers = {"X-CSRFToken": token}
    sid = copy.post("/api/v1/learning/sessions", json={"lesson_id": c.lessons[0].id},
                    headers=headers).json["session_id"]
    beat = {"session_id": sid, "seq": 1, "position": 1, "segments": [[0, 1]], "rate": 1, "visible": True}
    assert copy.post("/api/v1/learning/heartbeat", json=beat, headers=headers).status_code == 200
    browser.post("/logout", data={"csrf_token": token})
    refused = copy.post("/api/v1/learning/heartbeat", json={**beat, "seq": 2}, headers=headers)
    assert refused.status_code == 403 and "重新登录" in refused.json["error"]["message"]


def test_page_views_record_activity_now_and_then(client, make_user, csrf_token, db_session):
    from lms.accounts.models import UserSession

    user = make_user()
    sign_in(client, user, csrf_token)
    login_session = db_session.scalar(select(UserSession).where(UserSession.user_id == user.id))
    signed_in_at = login_session.last_seen_at
    with clock.freeze(clock.now() + timedelta(minutes=1)):
        assert client.get("/profile").status_code == 200
    db_session.expire_all()
    assert login_session.last_seen_at == signed_in_at  # not a write per page view
    later = clock.now() + timedelta(seconds=client.application.config["LMS_SESSION_TOUCH_SECONDS"] + 60)
    with clock.freeze(later):
        page = client.get("/profile").get_data(as_text=True)
    db_session.expire_all()
    assert login_session.last_seen_at == later.replace(tzinfo=None)
    with client.application.app_context():
        local = later.astimezone(clock.local_zone()).strftime("%Y-%m-%d %H:%M")
    assert local in page


def test_a_heartbeat_answers_in_the_accounts_language_without_loading_the_account(
        client, make_user, csrf_token, db_session):
    """The hot path checks the sign-in with the play session's own query; the language its answer
    speaks comes from that query too, not from loading the user (a query more per beat)."""
    from sqlalchemy import event

    c = course(db_session)
    user = make_user()
    user.locale = "en"
    db_session.flush()
    sign_in(client, user, csrf_token)
    page = client.get(f"/courses/{c.code}").get_data(as_text=True)
    client.post(f"/learn/{c.code}/enrol", data={"csrf_token": csrf_token(page)})
    headers = {"X-CSRFToken": csrf_token(client.get("/my/learning").get_data(as_text=True))}
    lesson = next(lesson for lesson in c.lessons if lesson.kind == "video")
    sid = client.post("/api/v1/learning/sessions", json={"lesson_id": lesson.id}, headers=headers).json["session_id"]
    seen = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split()))

    engine = db_session.get_bind().engine
    event.listen(engine, "before_cursor_execute", capture)
    try:  # thirty seconds reported at once: most of it over the wall clock, with its reason in words
        beat = {"session_id": sid, "seq": 1, "position": 30, "segments": [[0, 30]], "rate": 1, "visible": True}
        answer = client.post("/api/v1/learning/heartbeat", json=beat, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert answer.status_code == 200, answer.json
    labels = [item["label"] for item in answer.json["not_counted"]]
    assert labels and all(re.fullmatch(r"[\x20-\x7e]+", label) for label in labels), labels
    selects = [s for s in seen if s.startswith("SELECT") and not s.startswith("SELECT 1")]
    assert len(selects) == 1 and "lesson_progress" in selects[0], selects
