"""A unit admin in a real browser: confirms a learner who named the unit, then exports the unit's
records as a background job (real worker) and watches the progress bar reach 100 % before downloading."""

import csv
import io
from datetime import datetime

import pytest
from playwright.sync_api import Browser, Page, expect

from lms.extensions import db
from tests.conftest import TEST_PASSWORD, credit_code, id_number
from tests.e2e.conftest import serving_with_workers

pytestmark = pytest.mark.e2e
UNIT = credit_code("91110105MA01EXPT0")


@pytest.fixture(scope="module")
def site(tmp_path_factory, live_server):
    # Every export above one row runs as a job, so the progress page is what the admin sees.
    with serving_with_workers(tmp_path_factory.mktemp("unit-export"), "unitexport", packages=("GX-NS-001", "GX-DT-002"),
                              LMS_EXPORT_INLINE_MAX_ROWS=1) as site:
        yield site


def people(app):
    """A unit admin, two learners who named the unit (one already confirmed), each with completions."""
    from sqlalchemy import select

    from lms.accounts import services as accounts
    from lms.accounts.models import EmploymentStatus, Role
    from lms.catalog.models import Course
    from lms.credits import services as ledger

    with app.test_request_context():
        def person(n, name):
            return accounts.create_person(None, accounts.PersonData(
                real_name=name, id_number=id_number(f"11010519900104{n:03d}"), password=TEST_PASSWORD,
                mobile=f"1365550{n:04d}", region_code="110000", employer_name="北京示例科技有限公司",
                employer_credit_code=UNIT))

        admin = person(1, "单位管理员")
        accounts.grant_role(None, admin, Role.UNIT_ADMIN, organization=admin.employer)
        confirmed, waiting = person(2, "钱已审"), person(3, "孙待审")
        confirmed.employment_status = EmploymentStatus.APPROVED
        for user in (confirmed, waiting):
            for code in ("GX-NS-001", "GX-DT-002"):
                course = db.session.scalar(select(Course).where(Course.code == code))
                ledger.record_course_completion(user, course, completed_at=datetime(2026, 3, 2, 1), exam_score=88)
        db.session.commit()
        return admin.mobile


def test_unit_admin_confirms_a_learner_and_exports_with_progress(page: Page, browser: Browser, site, tmp_path):
    app, base = site
    mobile = people(app)
    page.goto(base + "/login")
    page.get_by_label("身份证号 / 手机号 / 邮箱").fill(mobile)
    page.get_by_label("密码").fill(TEST_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("button", name="退出")).to_be_visible()
    page.wait_for_load_state("load")  # the menu's script is ready

    page.get_by_role("button", name="工作台").click()  # the menu of role pages
    page.get_by_role("link", name="单位管理", exact=True).click()
    pending = page.locator("tr", has_text="孙待审")
    expect(pending).to_be_visible()
    pending.get_by_role("button", name="通过").click()
    expect(page.get_by_text("孙待审").first).to_be_visible()

    page.get_by_role("link", name="导出 2026 年度学时记录").click()
    expect(page.locator("#export-scope")).to_contain_text("4 条")  # both learners now count
    page.get_by_label("CSV（UTF-8）").check()
    page.get_by_role("button", name="开始导出").click()

    expect(page.get_by_role("heading", name="导出学时记录")).to_be_visible()
    bar = page.get_by_role("progressbar", name="导出进度")
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=60_000)  # updated by polling, no reload
    expect(page.locator("#export-state")).to_contain_text("共 4 条记录")
    with page.expect_download() as download_info:
        page.locator("#export-download").click()
    path = tmp_path / "export.csv"
    download_info.value.save_as(path)
    table = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    assert table[0][:3] == ["姓名", "身份证号", "工作单位"] and len(table) == 5
    assert sorted({row[0] for row in table[1:]}) == ["孙待审", "钱已审"]
    assert all("*" in row[1] for row in table[1:])
