"""Steps the browser tests share."""

from playwright.sync_api import Browser, Page

from tests.conftest import TEST_PASSWORD


def sign_in(page: Page, base: str, login: str, password: str = TEST_PASSWORD) -> Page:
    """Sign in through the login form; returns once the browser has left the login page and loaded
    the next (at phone width the menu, and its 退出, is folded: the URL is what is waited for)."""
    page.goto(base + "/login")
    page.get_by_label("身份证号 / 手机号 / 邮箱").fill(login)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: "/login" not in url)
    page.wait_for_load_state("load")
    return page


def signed_in_page(browser: Browser, base: str, login: str, **context) -> Page:
    """A page in a browser context of its own (zh-CN, and ``context``'s options), signed in."""
    return sign_in(browser.new_context(locale="zh-CN", **context).new_page(), base, login)
