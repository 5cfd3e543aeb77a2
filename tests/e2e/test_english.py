"""English in a real browser: the header's switcher, Accept-Language, and the choice kept on the account
(it follows the person to a fresh browser after signing out)."""

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import TEST_PASSWORD, build_database, fresh_database, make_test_app
from tests.e2e.conftest import enrolled_learner, serving

pytestmark = pytest.mark.e2e
CODE = "GX-NS-001"


@pytest.fixture(scope="module")
def site(tmp_path_factory, live_server):
    """A server of its own, whose app creates the learners. Depends on live_server only so the per-test
    rollback fixture stands aside (the server's requests must commit for real)."""
    tmp = tmp_path_factory.mktemp("english")
    with fresh_database(tmp, "english") as url:
        app = make_test_app(url, tmp)
        build_database(app, packages=(CODE,))
        with serving(app) as base:
            yield app, base


def _sign_in(page, base: str, mobile: str, *, login_label: str, password_label: str, button: str):
    page.goto(base + "/login")
    page.get_by_label(login_label).fill(mobile)
    page.get_by_label(password_label, exact=True).fill(TEST_PASSWORD)
    page.get_by_role("button", name=button, exact=True).click()


def test_a_visitor_switches_to_english_and_a_browser_asking_for_english_gets_it(browser: Browser, site):
    _app, live_server = site
    chinese = browser.new_context(locale="zh-CN")
    page = chinese.new_page()
    page.goto(live_server + "/help")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    switcher = page.get_by_role("navigation", name="界面语言")
    expect(switcher.get_by_role("link", name="中文")).to_have_attribute("aria-current", "true")
    switcher.get_by_role("link", name="English").click()
    expect(page).to_have_url(re.compile(r"/help$"))  # back on the same page
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("link", name="Course catalog")).to_be_visible()
    page.get_by_role("link", name="Course catalog").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")  # the choice stays in this browser
    chinese.close()

    english = browser.new_context(locale="en-US")  # Accept-Language: en-US, nothing chosen
    page = english.new_page()
    page.goto(live_server + "/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    english.close()


def test_the_choice_is_kept_on_the_account_across_browsers(browser: Browser, site):
    app, live_server = site
    _user_id, mobile, _lessons = enrolled_learner(app, CODE, name="语言测试")
    first = browser.new_context(locale="zh-CN")
    page = first.new_page()
    _sign_in(page, live_server, mobile, login_label="身份证号 / 手机号 / 邮箱", password_label="密码", button="登录")
    page.goto(live_server + "/me/hours")
    expect(page.get_by_role("heading", name=re.compile("我的学时"))).to_be_visible()
    page.get_by_role("form", name="界面语言").get_by_role("button", name="English").click()
    expect(page).to_have_url(re.compile(r"/me/hours$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name=re.compile("My credit hours"))).to_be_visible()
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    first.close()

    # A fresh browser whose language is Chinese: signing in brings the account's English back.
    second = browser.new_context(locale="zh-CN")
    page = second.new_page()
    page.goto(live_server + "/login")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    _sign_in(page, live_server, mobile, login_label="身份证号 / 手机号 / 邮箱", password_label="密码", button="登录")
    page.goto(live_server + "/me/hours")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name=re.compile("My credit hours"))).to_be_visible()
    switcher = page.get_by_role("form", name="Interface language")
    expect(switcher.get_by_role("button", name="English")).to_have_attribute("aria-current", "true")
    switcher.get_by_role("button", name="中文").click()  # and back, for this account everywhere
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", name=re.compile("我的学时"))).to_be_visible()
    second.close()
