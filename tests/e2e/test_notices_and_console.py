"""In a real browser: a region's HR auditor publishes a notice that a learner of the region then sees,
marked unread, on the home page; an admin finds a person in the console, disables the account (the
person is signed out and told why at login) and enables it again."""


import pytest
from playwright.sync_api import Browser, Page, expect

from lms.extensions import db
from tests.conftest import TEST_PASSWORD, build_database, credit_code, fresh_database, id_number, make_test_app
from tests.e2e.conftest import serving
from tests.e2e.pages import sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("notices-console")
    with fresh_database(tmp, "noticesconsole") as url:
        app = make_test_app(url, tmp)
        build_database(app, packages=("GX-NS-001",))
        with serving(app) as base:
            yield app, base


def people(app) -> dict:
    from lms.accounts import services as accounts
    from lms.accounts.models import Role

    with app.test_request_context():
        def person(n, name, *roles, **grant):
            user = accounts.create_person(None, accounts.PersonData(
                real_name=name, id_number=id_number(f"11010519900105{n:03d}"), password=TEST_PASSWORD,
                mobile=f"1365560{n:04d}", region_code="110000", employer_name="北京示例科技有限公司",
                employer_credit_code=credit_code("91110105MA01NTCE0")))
            for role in roles:
                accounts.grant_role(None, user, role, **grant)
            return user

        made = {"auditor": person(1, "京审核", Role.HR_AUDITOR, region_code="110000"),
                "learner": person(2, "周学员", Role.LEARNER), "admin": person(3, "吴管理", Role.ADMIN),
                "target": person(4, "郑被停", Role.LEARNER)}
        db.session.commit()
        return {key: (user.mobile, user.id_number_masked) for key, user in made.items()}


def test_an_auditor_publishes_a_notice_that_learners_of_the_region_see_on_the_home_page(
        page: Page, browser: Browser, site):
    app, base = site
    who = people(app)
    sign_in(page, base, who["auditor"][0])
    page.get_by_role("button", name="工作台").click()
    page.get_by_role("link", name="通知管理", exact=True).click()
    page.get_by_role("link", name="发布通知").click()
    page.get_by_label("标题").fill("关于按时完成年度公需科目学习的提醒")
    page.get_by_label("正文（Markdown）").fill("请在 **12 月 31 日** 前完成。<script>alert(1)</script>")
    page.get_by_label("置顶").check()
    page.get_by_role("button", name="发布").click()
    expect(page.get_by_text("含有脚本或网页代码")).to_be_visible()  # refused, what was typed kept
    page.get_by_label("正文（Markdown）").fill("请在 **12 月 31 日** 前完成。")
    page.get_by_role("button", name="发布").click()
    expect(page.get_by_text("通知已发布")).to_be_visible()
    expect(page.locator(".notice-body strong")).to_have_text("12 月 31 日")

    learner = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN").new_page()  # a phone
    sign_in(learner, base, who["learner"][0])
    learner.goto(base + "/")
    notices = learner.get_by_role("region", name="通知公告")
    item = notices.get_by_role("listitem").filter(has_text="关于按时完成年度公需科目学习的提醒")
    expect(item).to_contain_text("置顶")
    expect(item).to_contain_text("未读")
    item.get_by_role("link").click()
    expect(learner.get_by_role("heading", name="关于按时完成年度公需科目学习的提醒")).to_be_visible()
    learner.goto(base + "/")
    expect(learner.get_by_role("region", name="通知公告")).not_to_contain_text("未读")
    learner.context.close()


def test_the_console_finds_disables_and_enables_a_person(page: Page, browser: Browser, site):
    app, base = site
    from sqlalchemy import select

    from lms.accounts.models import User

    with app.app_context():
        if db.session.scalar(select(User.id).where(User.real_name == "郑被停")) is None:
            people(app)
        target = db.session.scalar(select(User).where(User.real_name == "郑被停"))
        mobile, masked = target.mobile, target.id_number_masked
        admin_mobile = db.session.scalar(select(User.mobile).where(User.real_name == "吴管理"))
    theirs = browser.new_context(locale="zh-CN").new_page()
    sign_in(theirs, base, mobile)

    sign_in(page, base, admin_mobile)
    page.get_by_role("button", name="工作台").click()
    page.get_by_role("link", name="人员与权限", exact=True).click()
    page.get_by_label("姓名、身份证号、手机号、邮箱或单位").fill(masked[-4:])
    page.get_by_role("button", name="查找").click()
    page.get_by_role("link", name="郑被停").click()
    expect(page.locator("#account-state")).to_have_text("正常")

    page.get_by_role("button", name="停用账号").click()  # no reason yet
    expect(page.get_by_text("请写明原因")).to_be_visible()
    expect(page.locator("#account-state")).to_have_text("正常")
    page.locator("#reason-disable").fill("账号疑似被盗用，暂停使用")
    page.get_by_role("button", name="停用账号").click()
    expect(page.get_by_text("账号已停用，1 处登录已结束")).to_be_visible()
    expect(page.locator("#account-state")).to_have_text("已停用")

    theirs.goto(base + "/my/learning")
    expect(theirs).to_have_url(f"{base}/login?next=%2Fmy%2Flearning")  # signed out on their device
    theirs.get_by_label("身份证号 / 手机号 / 邮箱").fill(mobile)
    theirs.get_by_label("密码").fill(TEST_PASSWORD)
    theirs.get_by_role("button", name="登录").click()
    expect(theirs.get_by_text("该账号已停用，请联系平台管理员。")).to_be_visible()

    page.locator("#reason-enable").fill("已核实本人身份")
    page.get_by_role("button", name="重新启用账号").click()
    expect(page.locator("#account-state")).to_have_text("正常")
    sign_in(theirs, base, mobile)

    page.get_by_role("link", name="在审计日志中查看全部").click()
    log = page.locator(".audit-events")
    expect(log).to_contain_text("停用账号")
    expect(log).to_contain_text("账号疑似被盗用，暂停使用")
    expect(log).to_contain_text("启用账号")
    theirs.context.close()
