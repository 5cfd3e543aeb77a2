"""The national programme office in a real browser: the 16 departments × 15 domains table with its
colour scale, totals and the unassigned row apart, then a click through a cell to the units and
courses behind it."""

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import TEST_PASSWORD, build_database, fresh_database, id_number, make_test_app
from tests.e2e.conftest import serving

pytestmark = pytest.mark.e2e


def _people(app) -> str:
    """Generated completions (tests/programme_helpers.py) and a national office; returns its mobile."""
    from lms.accounts import services as accounts
    from lms.accounts.models import Role
    from lms.extensions import db
    from tests import programme_helpers

    numbers = iter(range(1, 1000))

    def make_user(*, roles=(), region="110000", real_name="学员", employer_credit_code=None, employer_name=None,
                  **grant):
        n = next(numbers)
        user = accounts.create_person(None, accounts.PersonData(
            real_name=real_name, id_number=id_number(f"11010519900105{n:03d}"), password=TEST_PASSWORD,
            mobile=f"1365770{n:04d}", region_code=region, employer_name=employer_name,
            employer_credit_code=employer_credit_code), roles=())
        for role in roles:
            accounts.grant_role(None, user, role, **grant)
        db.session.commit()
        return user

    with app.test_request_context():
        programme_helpers.build(db.session, make_user)
        office = make_user(roles=(Role.PROGRAMME_OFFICE,), real_name="全国项目办")
        return office.mobile


@pytest.fixture(scope="module")
def site(tmp_path_factory, live_server):
    tmp = tmp_path_factory.mktemp("programme")
    with fresh_database(tmp, "programme") as url:
        app = make_test_app(url, tmp)
        build_database(app, packages=("GX-NS-001",))
        mobile = _people(app)
        with serving(app) as base:
            yield base, mobile


def test_the_national_office_reads_the_table_and_drills_down(page: Page, site):
    base, mobile = site
    page.goto(base + "/login")
    page.get_by_label("身份证号 / 手机号 / 邮箱").fill(mobile)
    page.get_by_label("密码").fill(TEST_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("button", name="退出")).to_be_visible()
    page.wait_for_load_state("load")  # the menu's script is ready
    page.get_by_role("button", name="工作台").click()
    page.get_by_role("link", name="计划完成情况", exact=True).click()
    page.get_by_label("年度").select_option("2022")
    page.get_by_role("button", name="查看").click()

    table = page.locator("#plan-table")
    expect(table).to_be_visible()
    expect(table.locator("thead th")).to_have_count(1 + 15 + 1)  # 部门, the 15 domains, 小计
    departments = table.locator("tbody tr[data-department]")
    names = [departments.nth(i).locator("th").inner_text() for i in range(departments.count())]
    assert names[:16] == ["中央网信办", "国家发展改革委", "教育部", "科技部", "工业和信息化部", "财政部", "自然资源部",
                          "生态环境部", "交通运输部", "农业农村部", "应急管理部", "国家市场监督管理总局", "中国科学院",
                          "国家能源局", "国家知识产权局", "乡村振兴局"]
    assert names[16] == "其他" and names[-1] == "未设主管部门"
    expect(table.locator("tr.totals th")).to_have_text("合计")
    expect(table.locator("tr.totals td").last).to_contain_text("90.00 万人")

    # The colour scale: each step its own background, a hatched pattern where there is no target.
    backgrounds = page.evaluate("""() => {
        const seen = {};
        for (const td of document.querySelectorAll('#plan-table td[data-level]')) {
            const style = getComputedStyle(td);
            seen[td.dataset.level] = style.backgroundImage !== 'none' ? style.backgroundImage : style.backgroundColor;
        }
        return seen;
    }""")
    assert {"0", "1", "none"} <= set(backgrounds), backgrounds
    assert len({backgrounds["0"], backgrounds["1"], backgrounds["none"]}) == 3, backgrounds
    assert "repeating-linear-gradient" in backgrounds["none"]
    expect(page.locator("svg.plan-chart").first).to_be_visible()

    # A cell of 工业和信息化部 with learners behind it, followed to its units and courses.
    row = table.locator('tr[data-department="工业和信息化部"]')
    cell = row.locator('td[data-level="1"]').first
    trained = cell.locator(".trained").inner_text().strip()
    cell.locator("a").click()
    expect(page.locator("h1")).to_contain_text("工业和信息化部 ×")
    expect(page.locator("#cell-trained")).to_contain_text(trained)
    units = page.locator("#cell-units tbody tr")
    expect(units.first).to_be_visible()
    assert {units.nth(i).locator("td").first.inner_text() for i in range(units.count())} <= {
        "京信息技术研究院", "京装备制造公司"}
    expect(page.locator("#cell-courses tbody tr").first).to_contain_text("PL-")
    page.get_by_role("link", name="计划完成情况 · 全国 · 2022").click()
    expect(page.locator("#plan-table")).to_be_visible()
