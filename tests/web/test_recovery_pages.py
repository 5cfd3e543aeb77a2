"""The 找回密码 pages, verification and the operator's page, through HTTP: the answer never tells
whether an account exists, bad codes and links change nothing, a reset signs every device out."""

import re
import time

import pytest
from sqlalchemy import func, select

from lms.accounts.models import LoginFailure, RecoveryCode, Role
from lms.core.audit import AuditEvent
from tests.conftest import TEST_PASSWORD, credit_code, id_number
from tests.recovery_helpers import enable_recovery, secret_in
from tests.recovery_helpers import queued as queued_now

NEW = "NewStudy2026a"
ADDRESS = {"REMOTE_ADDR": "203.0.113.20"}


@pytest.fixture(autouse=True)
def on(app, monkeypatch):
    enable_recovery(app, monkeypatch)


@pytest.fixture
def queued(app):
    """What waits in the outbox (read in an app context of its own, as a client's requests are)."""

    def read(channel=None):
        with app.app_context():
            return queued_now(channel)

    return read


@pytest.fixture
def last_secret(queued):
    return lambda channel=None: secret_in(queued(channel)[-1]["text"])


@pytest.fixture
def person(make_user):
    return make_user(email="zhang@example.org")


def _post(client, csrf_token, path, data, **kw):
    token = csrf_token(client.get(path, environ_base=ADDRESS).get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token}, environ_base=ADDRESS, **kw)


def _without_tokens(html: str) -> str:
    return re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "", html)


def test_the_login_page_links_to_forgotten_passwords(client):
    html = client.get("/login").get_data(as_text=True)
    assert 'href="/password/forgot"' in html and "忘记密码？" in html


@pytest.mark.parametrize("channel", ["mail", "sms"])
def test_the_answer_is_identical_whether_or_not_the_account_exists(app, client_factory, csrf_token, person, channel, queued):
    answers, floor = [], app.config["LMS_RECOVERY_ANSWER_SECONDS"]
    for login in (person.mobile, "13500000777"):
        client = client_factory()
        started = time.monotonic()
        response = _post(client, csrf_token, "/password/forgot", {"login": login, "channel": channel})
        assert time.monotonic() - started >= floor  # no sooner than the floor, account or not
        follow = client.get(response.headers["Location"], environ_base=ADDRESS)
        page = _without_tokens(follow.get_data(as_text=True)).replace(login, "LOGIN")
        answers.append((response.status_code, response.headers["Location"], follow.status_code, page))
    assert answers[0] == answers[1]
    assert len(queued(channel)) == 1  # only the account that exists was sent something


def test_the_text_code_journey_resets_and_signs_every_device_out(client_factory, csrf_token, login, client,
                                                                   person, db_session, last_secret):
    login(person)  # signed in elsewhere
    assert client.get("/profile").status_code == 200
    browser = client_factory()
    response = _post(browser, csrf_token, "/password/forgot", {"login": person.mobile, "channel": "sms"})
    assert response.headers["Location"].endswith("/password/code")
    page = browser.get("/password/code", environ_base=ADDRESS).get_data(as_text=True)
    assert f'value="{person.mobile}"' in page and "验证码已发送到该手机" in page
    code = last_secret("sms")
    wrong = "000000" if code != "000000" else "111111"
    refused = _post(browser, csrf_token, "/password/code", {"login": person.mobile, "code": wrong,
                                                            "password": NEW, "password_confirm": NEW})
    assert refused.status_code == 400 and "验证码不正确或已失效" in refused.get_data(as_text=True)
    assert refused.headers["Referrer-Policy"] == "no-referrer"
    done = _post(browser, csrf_token, "/password/code", {"login": person.mobile, "code": code,
                                                         "password": NEW, "password_confirm": NEW})
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    assert "密码已重设" in browser.get("/login").get_data(as_text=True)
    assert client.get("/profile").status_code == 302  # the other device is signed out
    again = _post(browser, csrf_token, "/password/code", {"login": person.mobile, "code": code,
                                                          "password": "Other2026ab", "password_confirm": "Other2026ab"})
    assert "已经用过" in again.get_data(as_text=True)
    login(person, password=NEW)


@pytest.mark.parametrize("case", ["expired", "reused", "tampered", "empty"])
def test_a_bad_link_says_so_and_changes_nothing(client, csrf_token, person, db_session, case, last_secret):
    from datetime import timedelta

    from lms.core.clock import freeze, utcnow_naive

    _post(client, csrf_token, "/password/forgot", {"login": person.email, "channel": "mail"})
    token = last_secret("mail")
    if case == "reused":
        _post(client, csrf_token, "/password/reset", {"token": token, "password": "Other2026ab",
                                                      "password_confirm": "Other2026ab"})
    token = {"tampered": token[:-2] + "zz", "empty": ""}.get(case, token)
    before = (person.password_hash, person.login_epoch)
    later = utcnow_naive() + timedelta(minutes=31 if case == "expired" else 1)
    with freeze(later):
        response = _post(client, csrf_token, "/password/reset", {"token": token, "password": NEW,
                                                                 "password_confirm": NEW})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert {"expired": "已过期", "reused": "已经用过", "tampered": "不完整或已被改动", "empty": "不完整或已被改动"}[case] in html
    assert 'href="/password/forgot"' in html  # what to do next
    db_session.refresh(person)
    assert (person.password_hash, person.login_epoch) == before


def test_the_link_page_takes_its_secret_from_the_fragment(client):
    html = client.get("/password/reset").get_data(as_text=True)
    assert 'id="reset-token"' in html and "/static/js/reset-link.js" in html
    assert "<script>" not in html  # no inline script under the CSP


def test_too_many_requests_from_one_address_are_told_to_wait(client, csrf_token, person, queued):
    for n in range(6):
        response = _post(client, csrf_token, "/password/forgot", {"login": f"1350000{n:04d}", "channel": "sms"})
        assert response.status_code == 302
    response = _post(client, csrf_token, "/password/forgot", {"login": person.mobile, "channel": "sms"})
    assert response.status_code == 429 and "60 分钟后再试" in response.get_data(as_text=True)
    assert queued() == []


def test_without_mail_or_texts_the_page_says_whom_to_ask(app, monkeypatch, client):
    monkeypatch.setitem(app.config, "LMS_SMTP_HOST", None)
    monkeypatch.setitem(app.config, "LMS_SMS_SENDER", None)
    html = client.get("/password/forgot").get_data(as_text=True)
    assert "暂未开通自助找回密码" in html and "<form" not in html.split("<main", 1)[-1].split("</main>")[0] \
        .replace('action="/logout"', "")


def test_verification_after_registration(app, monkeypatch, client, csrf_token, db_session, queued):
    monkeypatch.setitem(app.config, "LMS_VERIFY_CONTACT", True)
    token = csrf_token(client.get("/register").get_data(as_text=True))
    response = client.post("/register", data={
        "real_name": "王芳", "id_number": id_number("11010819880808123"), "mobile": "13711112222", "email": "",
        "region_code": "110000", "employer_name": "北京示例设计院",
        "employer_credit_code": credit_code("12110000MB0000002"), "title_series": "工程技术",
        "password": TEST_PASSWORD, "password_confirm": TEST_PASSWORD, "agree": "y", "csrf_token": token})
    assert response.headers["Location"].endswith("/profile/verify")
    page = client.get("/profile/verify")
    assert "未验证" in page.get_data(as_text=True)
    code = secret_in(queued("sms")[-1]["text"])
    token = csrf_token(page.get_data(as_text=True))
    wrong = client.post("/profile/verify", data={"channel": "sms", "code": "12345", "csrf_token": token})
    assert wrong.status_code == 400 and "6 位数字" in wrong.get_data(as_text=True)
    done = client.post("/profile/verify", data={"channel": "sms", "code": code, "csrf_token": token})
    assert done.status_code == 302
    assert "已验证" in client.get("/profile/verify").get_data(as_text=True)


def test_an_operator_sends_a_reset_to_a_new_address_and_unlocks(client, login, csrf_token, make_user, person,
                                                                 db_session, queued):
    admin = make_user(roles=(Role.ADMIN,), real_name="管理员")
    db_session.add(LoginFailure(user_id=person.id, source="203.0.113.5"))
    db_session.commit()
    login(admin)
    path = f"/accounts/{person.id}/recovery"
    page = client.get(path).get_data(as_text=True)
    assert person.id_number_masked in page and "zhang@example.org" not in page and "z***@example.org" in page
    token = csrf_token(page)
    unchecked = client.post(path, data={"address": "new@example.org", "csrf_token": token})
    assert unchecked.status_code == 400 and "核实申请人的身份" in unchecked.get_data(as_text=True)
    assert queued() == []
    sent = client.post(path, data={"address": "new@example.org", "checked": "y", "csrf_token": token})
    assert sent.status_code == 302
    assert "n***@example.org" in client.get(path).get_data(as_text=True)
    assert queued("mail")[-1]["to"] == "new@example.org"
    unlocked = client.post(f"/accounts/{person.id}/unlock", data={"csrf_token": token})
    assert unlocked.status_code == 302
    assert "清除了 1 次密码错误记录" in client.get(path).get_data(as_text=True)
    actions = set(db_session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == admin.id)))
    assert {"user.reset_sent_to_address", "user.unlocked"} <= actions
    assert db_session.scalar(select(func.count(RecoveryCode.id)).where(RecoveryCode.sent_by_id == admin.id)) == 1


def test_the_login_kept_for_the_code_page_is_sealed_in_the_session(app, client, csrf_token, person, db_session):
    from lms.accounts import crypto

    with app.app_context():
        typed = crypto.decrypt(person.id_number_encrypted)
    _post(client, csrf_token, "/password/forgot", {"login": typed, "channel": "sms"})
    cookie = client.get_cookie("session").value
    with app.test_request_context():
        stored = app.session_interface.get_signing_serializer(app).loads(cookie)
    assert typed not in str(stored)
    assert f'value="{typed}"' in client.get("/password/code").get_data(as_text=True)
