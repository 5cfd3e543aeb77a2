"""A learner downloads a certificate; an anonymous visitor verifies it by number (and a mistyped one)."""

import hashlib
from datetime import datetime

import pytest
from playwright.sync_api import Browser, Page, expect

from lms.extensions import db
from tests.conftest import TEST_PASSWORD, build_database, credit_code, fresh_database, id_number, make_test_app
from tests.e2e.conftest import serving

pytestmark = pytest.mark.e2e
CODE = "GX-NS-001"


@pytest.fixture(scope="module")
def site(tmp_path_factory, live_server):
    """A server of its own whose app the test can reach (depends on live_server so the rollback fixture
    stands aside)."""
    tmp = tmp_path_factory.mktemp("certs")
    with fresh_database(tmp, "certs") as url:
        app = make_test_app(url, tmp)
        build_database(app, packages=(CODE,))
        with serving(app) as base:
            yield app, base


def learner_with_certificate(app):
    from sqlalchemy import select

    from lms.accounts import services as accounts
    from lms.catalog.models import Course
    from lms.certificates import services as certificates
    from lms.credits import services as ledger

    with app.test_request_context():
        user = accounts.create_person(None, accounts.PersonData(
            real_name="赵证书", id_number=id_number("11010519900103555"), password=TEST_PASSWORD,
            mobile="13655500001", region_code="110000", employer_name="测试单位",
            employer_credit_code=credit_code("91110105MA01ABCD3")))
        course = db.session.scalar(select(Course).where(Course.code == CODE))
        record = ledger.record_course_completion(user, course, completed_at=datetime(2026, 3, 2, 1), exam_score=90)
        cert = certificates.issue_course_certificate(record)
        db.session.commit()
        return user.mobile, cert.number, cert.pdf_sha256


def test_learner_downloads_and_visitor_verifies(page: Page, browser: Browser, site, tmp_path):
    app, base = site
    mobile, number, sha256 = learner_with_certificate(app)

    page.goto(base + "/login")
    page.get_by_label("身份证号 / 手机号 / 邮箱").fill(mobile)
    page.get_by_label("密码").fill(TEST_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("link", name="我的学时").click()
    expect(page.get_by_role("heading", name="我的学时 · 2026 年度")).to_be_visible()
    expect(page.locator("#hours-chart")).to_be_visible()
    page.get_by_role("link", name="我的证书").click()
    card = page.locator(f".certificate-card[data-number='{number}']")
    with page.expect_download() as info:
        card.get_by_role("link", name="下载 PDF").click()
    saved = tmp_path / "cert.pdf"
    info.value.save_as(saved)
    data = saved.read_bytes()
    assert data.startswith(b"%PDF") and hashlib.sha256(data).hexdigest() == sha256

    visitor = browser.new_context(locale="zh-CN")
    try:
        anon = visitor.new_page()
        anon.goto(base + "/verify")
        wrong = number[:-1] + ("0" if number[-1] != "0" else "1")
        anon.get_by_label("证书编号").fill(wrong)
        anon.get_by_role("button", name="核验").click()
        expect(anon.get_by_text("编号校验位不正确，可能有输错")).to_be_visible()
        anon.get_by_label("证书编号").fill(number)
        anon.get_by_role("button", name="核验", exact=True).click()
        expect(anon.locator("#verify-status")).to_have_text("✔ 证书有效")
        expect(anon.locator("#verify-result")).to_contain_text("赵*")
        expect(anon.locator("#pdf-sha256")).to_have_text(sha256)
        # The visitor drops the PDF: hashed in the browser and compared.
        anon.locator("#pdf-form input[type=file]").set_input_files(str(saved))
        anon.get_by_role("button", name="比对").click()
        expect(anon.get_by_text("文件一致", exact=False).first).to_be_visible()
    finally:
        visitor.close()
