"""找回密码 by e-mail in a real browser: the login page's link, the request, the mail read from a real
SMTP server on loopback, the link followed, a new password set, every other session ended, and the
same link refused when opened again."""

import pytest
from playwright.sync_api import Browser, Page, expect

from lms.extensions import db
from tests.conftest import TEST_PASSWORD, build_database, credit_code, fresh_database, id_number, make_test_app
from tests.e2e.conftest import serving
from tests.recovery_helpers import MailBox

pytestmark = pytest.mark.e2e
NEW = "NewStudy2026a"


@pytest.fixture(scope="module")
def site(tmp_path_factory, live_server):
    """A server of its own, sending mail to a loopback SMTP server (depends on live_server so the
    rollback fixture stands aside)."""
    tmp = tmp_path_factory.mktemp("recovery")
    with MailBox() as box, fresh_database(tmp, "recovery") as url:
        app = make_test_app(url, tmp, LMS_SMTP_HOST="127.0.0.1", LMS_SMTP_PORT=box.port,
                            LMS_MAIL_FROM="noreply@lms.example.org")
        build_database(app)
        with serving(app) as base:
            app.config["LMS_PUBLIC_URL"] = base  # the links in mail lead to this server
            yield app, base, box


def person(app):
    from lms.accounts import services as accounts

    with app.test_request_context():
        user = accounts.create_person(None, accounts.PersonData(
            real_name="钱找回", id_number=id_number("11010519900104666"), password=TEST_PASSWORD,
            mobile="13655500077", email="qian@example.org", region_code="110000", employer_name="测试单位",
            employer_credit_code=credit_code("91110105MA01ABCD3")))
        db.session.commit()
        return user.mobile


def deliver(app) -> int:
    from lms.outbox.delivery import deliver_due

    with app.app_context():
        return deliver_due().delivered


def sign_in(page: Page, base: str, login: str, password: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("身份证号 / 手机号 / 邮箱").fill(login)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录").click()


def test_forgotten_password_by_mail_link(page: Page, browser: Browser, site):
    app, base, box = site
    mobile = person(app)
    elsewhere = browser.new_context(locale="zh-CN")  # signed in on another device
    try:
        other = elsewhere.new_page()
        sign_in(other, base, mobile, TEST_PASSWORD)
        expect(other.get_by_role("button", name="退出")).to_be_visible()

        page.goto(base + "/login")
        page.get_by_role("link", name="忘记密码？").click()
        expect(page.get_by_role("heading", name="找回密码")).to_be_visible()
        page.get_by_label("身份证号 / 手机号 / 邮箱").fill("QIAN@example.org")
        page.get_by_label("通过电子邮箱接收重设链接").check()
        page.get_by_role("button", name="发送").click()
        expect(page.get_by_role("heading", name="请查收邮件")).to_be_visible()
        expect(page.get_by_text("如果该账号存在并登记了电子邮箱")).to_be_visible()

        assert deliver(app) == 1
        [mail] = box.messages
        assert mail["To"] == "qian@example.org"
        link = next(word for word in mail.get_content().split() if word.startswith(base + "/password/reset#"))

        page.goto(link)
        expect(page.get_by_role("heading", name="设置新密码")).to_be_visible()
        assert "#" not in page.url  # the secret left the address bar once it was in the form
        page.get_by_label("新密码", exact=True).fill(NEW)
        page.get_by_label("确认新密码").fill(NEW)
        page.get_by_role("button", name="设置新密码").click()
        expect(page.get_by_text("密码已重设，所有设备上的登录都已退出")).to_be_visible()

        sign_in(page, base, mobile, NEW)
        expect(page.get_by_role("button", name="退出")).to_be_visible()
        other.reload()  # the other device is signed out
        expect(other.get_by_role("link", name="登录")).to_be_visible()

        # The same link again: refused with what to do, nothing changed.
        fresh = browser.new_context(locale="zh-CN")
        try:
            again = fresh.new_page()
            again.goto(link)
            again.get_by_label("新密码", exact=True).fill("Other2026ab")
            again.get_by_label("确认新密码").fill("Other2026ab")
            again.get_by_role("button", name="设置新密码").click()
            expect(again.get_by_text("这个重设密码链接已经用过")).to_be_visible()
            expect(again.get_by_role("link", name="重新申请找回密码")).to_be_visible()
        finally:
            fresh.close()
    finally:
        elsewhere.close()
