"""An admin issues an API client in a real browser: the form is empty again, the token is shown once
with a copy button that works from the keyboard, and without the Clipboard API the token is selected
for copying by hand."""

import pytest
from playwright.sync_api import Browser, Page, expect

from lms.extensions import db
from tests.conftest import TEST_PASSWORD, build_database, credit_code, fresh_database, id_number, make_test_app
from tests.e2e.conftest import serving

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site(tmp_path_factory, live_server):
    tmp = tmp_path_factory.mktemp("api-clients")
    with fresh_database(tmp, "apiclients") as url:
        app = make_test_app(url, tmp)
        build_database(app, packages=())
        with serving(app) as base:
            yield app, base


@pytest.fixture(scope="module")
def admin_mobile(site) -> str:
    app, _base = site
    from lms.accounts import services as accounts
    from lms.accounts.models import Role

    with app.test_request_context():
        admin = accounts.create_person(None, accounts.PersonData(
            real_name="接口管理员", id_number=id_number("11010519900105001"), password=TEST_PASSWORD,
            mobile="13655560001", region_code="110000", employer_name="测试单位",
            employer_credit_code=credit_code("91110105MA01ABCD3")))
        accounts.grant_role(None, admin, Role.ADMIN)
        db.session.commit()
        return admin.mobile


def sign_in_and_issue(page: Page, base: str, mobile: str, name: str) -> str:
    page.goto(base + "/login")
    page.get_by_label("身份证号 / 手机号 / 邮箱").fill(mobile)
    page.get_by_label("密码").fill(TEST_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("button", name="退出")).to_be_visible()
    page.goto(base + "/api-clients")
    page.get_by_label("接口名称").fill(name)
    page.get_by_label("地区", exact=True).select_option("110000")
    page.get_by_role("button", name="签发", exact=True).click()
    expect(page.get_by_role("heading", name=f"接口凭证“{name}”已签发")).to_be_visible()
    assert page.url == base + "/api-clients"  # redirected after the POST; the token is in no URL
    return page.locator("#issued-token").input_value()


def test_issue_then_copy_by_keyboard_and_the_form_is_empty(browser: Browser, site, admin_mobile):
    _app, base = site
    context = browser.new_context(locale="zh-CN", permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    token = sign_in_and_issue(page, base, admin_mobile, "市职称评审系统")
    assert token.count(".") == 1 and len(token) > 40
    expect(page.get_by_label("接口名称")).to_have_value("")
    expect(page.locator("tr", has_text="市职称评审系统")).to_be_visible()

    page.locator("#issued-token").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="复制")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#copy-token-status")).to_have_text("已复制")
    assert page.evaluate("navigator.clipboard.readText()") == token

    page.reload()  # shown once: gone on the next view
    expect(page.locator("#issued-token")).to_have_count(0)
    context.close()


def test_without_the_clipboard_api_the_token_is_selected_for_copying(browser: Browser, site, admin_mobile):
    _app, base = site
    context = browser.new_context(locale="zh-CN")
    context.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined});"
                            "document.execCommand = function () { return false; };")
    page = context.new_page()
    token = sign_in_and_issue(page, base, admin_mobile, "区职称评审系统")
    page.get_by_role("button", name="复制").press("Space")
    expect(page.locator("#copy-token-status")).to_contain_text("请手动复制")
    selected = page.evaluate("(() => { const f = document.getElementById('issued-token');"
                             " return [document.activeElement === f, f.value.slice(f.selectionStart, f.selectionEnd)]; })()")
    assert selected == [True, token]
    context.close()
