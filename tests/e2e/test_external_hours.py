"""学时登记 in a real browser: a learner submits hours earned at a conference with a PDF, the unit admin
reduces them with a reason, the region's HR auditor approves, and the learner sees the final hours, the
reason, and the entry in 我的学时."""

from decimal import Decimal

import pytest
from playwright.sync_api import Browser, Page, expect

from lms.extensions import db
from tests.conftest import TEST_PASSWORD, build_database, credit_code, fresh_database, id_number, make_test_app
from tests.e2e.conftest import serving
from tests.e2e.pages import signed_in_page as sign_in

pytestmark = pytest.mark.e2e
UNIT = credit_code("91110105MA01CLAM0")
PDF = b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("external-hours")
    with fresh_database(tmp, "claims") as url:
        app = make_test_app(url, tmp)
        build_database(app, packages=())
        with serving(app) as base:
            yield app, base


def people(app) -> dict:
    """A learner confirmed by their unit, the unit's admin, Beijing's HR auditor; Beijing's rules ask
    the region to confirm claims and count at most 20 conference hours a year."""
    from lms.accounts import services as accounts
    from lms.accounts.models import EmploymentStatus, Role
    from lms.credits.models import RuleSet

    with app.test_request_context():
        def person(n, name):
            return accounts.create_person(None, accounts.PersonData(
                real_name=name, id_number=id_number(f"11010519900106{n:03d}"), password=TEST_PASSWORD,
                mobile=f"1365557{n:04d}", region_code="110000", employer_name="北京示例研究院",
                employer_credit_code=UNIT))

        learner = person(1, "赵登记")
        learner.employment_status = EmploymentStatus.APPROVED
        admin = person(2, "单位管理员")
        accounts.grant_role(None, admin, Role.UNIT_ADMIN, organization=learner.employer)
        auditor = person(3, "人社审核员")
        accounts.grant_role(None, auditor, Role.HR_AUDITOR, region_code="110000")
        db.session.add(RuleSet(name="北京（测试）", region_code="110000", claim_caps="conference:20",
                               claims_need_region=True, annual_hours=Decimal(90)))
        db.session.commit()
        return {"learner": learner.mobile, "admin": admin.mobile, "auditor": auditor.mobile}


def review(page: Page, base: str, decision: str, hours: str = "", reason: str = "") -> None:
    page.goto(base + "/claims/review")
    page.get_by_role("link", name="全国继续教育学术年会").click()
    page.get_by_label("审核结果").select_option(label=decision)
    if hours:
        page.get_by_label("核减后的学时（学时）").fill(hours)
    if reason:
        page.get_by_label("原因（核减或不予认定时必填，学员会看到）").fill(reason)
    page.get_by_role("button", name="提交审核结果").click()
    expect(page.get_by_text("审核结果已保存")).to_be_visible()


def test_claim_reduced_by_the_unit_and_approved_by_the_region(browser: Browser, site, tmp_path):
    app, base = site
    mobiles = people(app)
    evidence = tmp_path / "参会证明.pdf"
    evidence.write_bytes(PDF)

    learner = sign_in(browser, base, mobiles["learner"])
    learner.goto(base + "/me/hours/2026")
    learner.get_by_role("link", name="登记外部学时").click()  # 我的学时 → the learner's claims
    learner.get_by_role("link", name="登记外部学时").click()  # → the form
    learner.get_by_label("学时类型").select_option(label="学术会议")
    learner.get_by_label("活动名称").fill("全国继续教育学术年会")
    learner.get_by_label("活动日期（年-月-日）").fill("2026-05-20")
    learner.get_by_label("申报学时（学时）").fill("6")
    learner.get_by_label("科目类别").select_option(label="专业")
    learner.get_by_label("活动说明").fill("参加两天大会，第一天全天听取报告，第二天上午分会场交流。")
    learner.get_by_label("证明材料（PDF、JPG 或 PNG，每份不超过 5 MB，最多 3 份）").set_input_files(str(evidence))
    learner.get_by_role("button", name="提交审核").click()
    expect(learner.locator("#claim-status")).to_have_text("待单位审核")
    claim_url = learner.url

    admin = sign_in(browser, base, mobiles["admin"])
    admin.get_by_role("button", name="工作台").click()
    admin.get_by_role("link", name="学时登记审核", exact=True).click()
    expect(admin.get_by_role("cell", name="赵登记")).to_be_visible()
    review(admin, base, "核减后通过", hours="4", reason="第二天仅半天，按 4 学时计")
    expect(admin.locator("#claim-status")).to_have_text("待人社审核")

    auditor = sign_in(browser, base, mobiles["auditor"])
    review(auditor, base, "通过")
    expect(auditor.locator("#claim-status")).to_have_text("已认定")

    learner.goto(claim_url)
    expect(learner.locator("#claim-status")).to_have_text("已认定")
    expect(learner.locator("#claim-credited")).to_have_text("4 学时")
    steps = learner.locator("#claim-steps")
    expect(steps).to_contain_text("核减后通过")
    expect(steps).to_contain_text("第二天仅半天，按 4 学时计")
    expect(steps).to_contain_text("人社审核")
    learner.goto(base + "/me/hours/2026")
    row = learner.locator("tr", has_text="全国继续教育学术年会")
    expect(row).to_contain_text("学时登记")
    expect(row).to_contain_text("4 学时")
    expect(learner.locator("#origin-external_claim")).to_contain_text("4 学时")
