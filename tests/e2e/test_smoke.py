"""Home → catalog → course page → register → login, in a real browser."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import credit_code, id_number

pytestmark = pytest.mark.e2e

PASSWORD = "Learn2026now"


def test_visitor_browses_registers_and_logs_in(page: Page, live_server):
    page.goto(live_server + "/")
    expect(page.get_by_role("heading", name="重点主题")).to_be_visible()

    page.get_by_role("link", name=re.compile("网络安全")).first.click()
    expect(page).to_have_url(re.compile(r"/courses\?subject=cybersecurity"))
    expect(page.locator(".result-card")).to_have_count(2)

    page.get_by_role("link", name="个人信息保护实务").click()
    expect(page.get_by_role("heading", name="个人信息保护实务", level=1)).to_be_visible()
    expect(page.get_by_text("教学大纲")).to_be_visible()

    page.get_by_role("link", name="注册").first.click()
    number = id_number("31010419870620432")
    page.get_by_label("真实姓名").fill("周明")
    page.get_by_label("身份证号").fill(number[:17] + ("1" if number[17] != "1" else "2"))
    page.get_by_label("手机号").fill("13512345678")
    page.get_by_label("所在地区").select_option(label="上海市")
    page.get_by_label("工作单位").fill("上海示例工程咨询有限公司")
    page.get_by_label("单位统一社会信用代码").fill(credit_code("91310104MA1FL0000"))
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_label("确认密码").fill(PASSWORD)
    page.get_by_label("我已阅读并同意").check()
    page.get_by_role("button", name="注册").click()
    # A wrong check digit is explained, and what was typed is still there.
    expect(page.get_by_text("校验码（最后一位）不正确")).to_be_visible()
    expect(page.get_by_label("工作单位")).to_have_value("上海示例工程咨询有限公司")

    page.get_by_label("身份证号").fill(number)
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_label("确认密码").fill(PASSWORD)
    page.get_by_role("button", name="注册").click()
    expect(page.get_by_text("注册成功")).to_be_visible()
    expect(page.get_by_text(number[:4] + "**********" + number[-4:])).to_be_visible()

    page.get_by_role("button", name="退出").click()
    expect(page.get_by_text("您已安全退出")).to_be_visible()
    page.get_by_role("link", name="登录").first.click()
    page.get_by_label("身份证号 / 手机号 / 邮箱").fill(number)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("link", name="周明")).to_be_visible()


def test_catalog_lists_all_demo_courses_on_a_phone(page: Page, live_server):
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(live_server + "/courses")
    expect(page.get_by_text(re.compile(r"共 (\d+) 门课程"))).to_be_visible()
    count = int(re.search(r"共 (\d+) 门课程", page.content()).group(1))
    assert count >= 8
    # Nothing overflows sideways at 360 px.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.get_by_role("button", name="展开菜单").click()
    expect(page.get_by_role("link", name="课程目录")).to_be_visible()
