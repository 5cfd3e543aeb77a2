"""Failed logins slow guessing down (a doubling delay per account and per address) without ever
refusing the right password for good; the owner is told at their next login."""

import re
from datetime import timedelta

import pytest

from lms.core import clock
from tests.conftest import TEST_PASSWORD, id_number

WRONG = "Wrong12345"


@pytest.fixture(autouse=True)
def no_flood_limit(app, monkeypatch):
    """The per-address request limit (Flask-Limiter, 5 a minute in tests) is not under test here."""
    monkeypatch.setitem(app.config, "LMS_LOGIN_RATE_LIMIT", "1000 per minute")


def attempt(client, csrf_token, login, password, address="10.1.0.1"):
    client.environ_base["REMOTE_ADDR"] = address  # later requests come from there too
    token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"login": login, "password": password, "csrf_token": token})


def fail(client, csrf_token, login, times, address="10.1.0.1"):
    return [attempt(client, csrf_token, login, WRONG, address).status_code for _ in range(times)]


def test_after_five_failures_the_next_attempt_waits_and_then_the_right_password_works(client, make_user,
                                                                                      csrf_token):
    user = make_user()
    assert fail(client, csrf_token, user.mobile, 5) == [200] * 5
    refused = attempt(client, csrf_token, user.mobile, TEST_PASSWORD)
    html = refused.get_data(as_text=True)
    # Flask-Limiter's own window may push Retry-After later, never earlier.
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 30
    assert "请在 30 秒后再试" in html and "密码错误" in html
    assert f'value="{user.mobile}"' in html  # what was typed is kept
    with clock.freeze(clock.now() + timedelta(seconds=31)):
        assert attempt(client, csrf_token, user.mobile, TEST_PASSWORD).status_code == 302


def test_the_delay_doubles_with_each_further_failure(client, make_user, csrf_token):
    user = make_user()
    fail(client, csrf_token, user.mobile, 5)
    start = clock.now()
    for n, delay in enumerate((30, 60, 120, 240), start=1):
        with clock.freeze(start + timedelta(seconds=1000 * n)):
            response = attempt(client, csrf_token, user.mobile, WRONG)
            assert response.status_code == 200
            assert f"请在 {delay * 2} 秒后再试" in response.get_data(as_text=True)  # told at once
            refused = attempt(client, csrf_token, user.mobile, TEST_PASSWORD)
            assert refused.status_code == 429 and f"请在 {delay * 2} 秒后再试" in refused.get_data(as_text=True)


def test_the_right_password_is_never_counted(client, make_user, csrf_token):
    user = make_user()
    for _ in range(12):
        assert attempt(client, csrf_token, user.mobile, TEST_PASSWORD).status_code == 302
        token = csrf_token(client.get("/profile").get_data(as_text=True))
        client.post("/logout", data={"csrf_token": token})


def test_every_way_of_typing_the_account_shares_one_budget(client, make_user, csrf_token):
    raw = id_number("11010519491231002")
    user = make_user(id_number=raw, email="li.hua@example.org")
    variants = [user.mobile, raw.lower(), raw.upper(), "LI.HUA@example.org",
                user.mobile.translate(str.maketrans("0123456789", "０１２３４５６７８９"))]
    for n, login in enumerate(variants):
        assert attempt(client, csrf_token, login, WRONG, address=f"10.2.0.{n}").status_code == 200
    refused = attempt(client, csrf_token, " li.hua@example.org ", TEST_PASSWORD, address="10.2.0.9")
    assert refused.status_code == 429


def test_an_address_spraying_many_accounts_is_slowed_down_but_not_others(client, make_user, csrf_token,
                                                                         app):
    user = make_user()
    free = app.config["LMS_LOGIN_SOURCE_FREE_FAILURES"]
    for n in range(free):
        assert attempt(client, csrf_token, f"1380000{n:04d}", WRONG, address="10.3.0.1").status_code == 200
    assert attempt(client, csrf_token, user.mobile, TEST_PASSWORD, address="10.3.0.1").status_code == 429
    assert attempt(client, csrf_token, user.mobile, TEST_PASSWORD, address="10.3.0.2").status_code == 302


def test_the_owner_on_a_known_browser_is_not_slowed_by_guesses_from_elsewhere(client_factory, make_user,
                                                                              csrf_token):
    user = make_user()
    owner, guesser = client_factory(), client_factory()
    assert attempt(owner, csrf_token, user.mobile, TEST_PASSWORD).status_code == 302
    owner.post("/logout", data={"csrf_token": csrf_token(owner.get("/").get_data(as_text=True))})
    for n in range(8):
        attempt(guesser, csrf_token, user.mobile, WRONG, address=f"10.4.0.{n}")
    assert attempt(guesser, csrf_token, user.mobile, TEST_PASSWORD, address="10.4.0.99").status_code == 429
    # The owner's browser signed in before: the guesses do not hold it up.
    assert attempt(owner, csrf_token, user.mobile, TEST_PASSWORD, address="10.4.1.1").status_code == 302


def test_the_owner_is_told_about_wrong_passwords_at_the_next_login(client_factory, make_user, csrf_token, app):
    user = make_user()
    owner, guesser = client_factory(), client_factory()
    attempt(owner, csrf_token, user.mobile, TEST_PASSWORD)
    owner.post("/logout", data={"csrf_token": csrf_token(owner.get("/").get_data(as_text=True))})
    at = clock.now().replace(microsecond=0) + timedelta(hours=1)
    with clock.freeze(at):
        fail(guesser, csrf_token, user.mobile, 3, address="10.5.0.1")
    with clock.freeze(at + timedelta(hours=2)):
        response = attempt(owner, csrf_token, user.mobile, TEST_PASSWORD)
        page = owner.get(response.headers["Location"]).get_data(as_text=True)
    assert "您的账号自上次登录以来有 3 次密码错误的登录尝试" in page
    with app.app_context():
        local = at.astimezone(clock.local_zone()).strftime("%Y-%m-%d %H:%M")
    assert local in page and "修改密码" in page
    # Told once: the next login has nothing to report.
    owner.post("/logout", data={"csrf_token": csrf_token(page)})
    with clock.freeze(at + timedelta(hours=3)):
        response = attempt(owner, csrf_token, user.mobile, TEST_PASSWORD)
        assert "密码错误的登录尝试" not in owner.get(response.headers["Location"]).get_data(as_text=True)


def test_successful_logins_do_not_use_up_the_flood_limit(client, make_user, csrf_token, app, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_LOGIN_RATE_LIMIT", "3 per minute")
    user = make_user()
    for _ in range(5):
        assert attempt(client, csrf_token, user.mobile, TEST_PASSWORD).status_code == 302
        client.post("/logout", data={"csrf_token": csrf_token(client.get("/").get_data(as_text=True))})


def test_the_flood_limit_still_answers_429(client, make_user, csrf_token, app, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_LOGIN_RATE_LIMIT", "3 per minute")
    user = make_user()
    codes = [attempt(client, csrf_token, user.mobile, TEST_PASSWORD if n == 3 else WRONG).status_code
             for n in range(4)]
    assert codes == [200, 200, 200, 429]
    flooded = client.post("/login", data={"login": "x"})
    assert re.search("操作过于频繁", flooded.get_data(as_text=True))


def test_a_known_browser_behind_a_busy_address_is_not_slowed_down(client_factory, make_user, csrf_token, app):
    """A workplace or a carrier's NAT: someone sprays from the address the owner also uses."""
    user = make_user()
    owner, sprayer = client_factory(), client_factory()
    assert attempt(owner, csrf_token, user.mobile, TEST_PASSWORD, address="10.6.0.1").status_code == 302
    owner.post("/logout", data={"csrf_token": csrf_token(owner.get("/").get_data(as_text=True))})
    for n in range(app.config["LMS_LOGIN_SOURCE_FREE_FAILURES"]):
        attempt(sprayer, csrf_token, f"1380000{n:04d}", WRONG, address="10.6.0.1")
    assert attempt(sprayer, csrf_token, user.mobile, TEST_PASSWORD, address="10.6.0.1").status_code == 429
    assert attempt(owner, csrf_token, user.mobile, TEST_PASSWORD, address="10.6.0.1").status_code == 302


def test_loopback_is_not_counted_as_one_address(client, app, csrf_token):
    """Behind a proxy without LMS_PROXY_FIX every visitor would come from 127.0.0.1."""
    codes = {attempt(client, csrf_token, f"1380000{n:04d}", WRONG, address="127.0.0.1").status_code
             for n in range(app.config["LMS_LOGIN_SOURCE_FREE_FAILURES"] + 2)}
    assert codes == {200}
