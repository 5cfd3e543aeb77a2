"""QR attendance in a real browser: the host's screen shows the rotating code; a learner's phone-width page
opens what the code says (read from a screenshot of the screen's QR image with a real decoder, as a phone
would); a code photographed 40 s earlier is refused with the reason; the current one records the
attendance and the hours appear in the learner's 我的学时; the host's live count follows."""

import io
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from lms.core import clock
from lms.extensions import db
from tests.conftest import TEST_PASSWORD, build_database, credit_code, fresh_database, id_number, make_test_app
from tests.e2e.conftest import serving, until
from tests.e2e.pages import signed_in_page as sign_in

pytestmark = pytest.mark.e2e
T0 = datetime(2026, 6, 10, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, inside the session, a 20-second slot's start
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("class-attendance")
    with fresh_database(tmp, "classes") as url:
        app = make_test_app(url, tmp)
        build_database(app, packages=())
        with serving(app) as base:
            yield app, base


def world(app) -> dict:
    """A base's administrator hosting a seminar with one session (09:00–12:00 on 10 June 2026) and an
    accepted learner."""
    from lms.accounts import services as accounts
    from lms.accounts.models import OrgKind, Role
    from lms.classes import services as classes

    with app.test_request_context():
        def person(n, name):
            return accounts.create_person(None, accounts.PersonData(
                real_name=name, id_number=id_number(f"11010519900107{n:03d}"), password=TEST_PASSWORD,
                mobile=f"1365558{n:04d}", region_code="110000", employer_name="北京示例医院",
                employer_credit_code=credit_code("91110105MA01XEMN0")))

        organization = accounts.get_or_create_organization("北京继续教育基地", OrgKind.PUBLISHER)
        host = person(1, "基地管理员")
        accounts.grant_role(None, host, Role.BASE_ADMIN, organization=organization)
        learner = person(2, "钱研修")
        learner.title_level = "intermediate"
        programme = classes.create_programme(host, classes.ProgrammeData(
            organization_id=organization.id, kind="seminar", title="人工智能高级研修班", domain="人工智能",
            place="北京市海淀区", starts_on="2026-06-10", ends_on="2026-06-10", category="professional", quota="30",
            min_title_level="intermediate", required_percent="100", description="面向中级以上职称人员的高级研修。"))
        session = classes.add_session(host, programme, classes.SessionData("第一讲 大模型应用", "2026-06-10", "09:00",
                                                                           "12:00", "3"))
        application = classes.apply(learner, programme.id, statement="我在医院信息科工作，希望系统学习。",
                                    groups=["grassroots"])
        classes.select_applicants(host, programme.id, [application.id])
        db.session.commit()
        return {"host": host.mobile, "learner": learner.mobile, "session": session.id}


def read_code(screen: Page) -> str:
    """What a phone's camera reads: a screenshot of the QR image, decoded."""
    shot = Image.open(io.BytesIO(screen.locator("#attendance-qr").screenshot()))
    (found,) = zxingcpp.read_barcodes(shot)
    return found.text


def test_a_learner_scans_the_rotating_code_and_a_40_second_old_one_is_refused(browser: Browser, site):
    app, base = site
    with ExitStack() as frozen:
        frozen.enter_context(clock.freeze(T0))
        people = world(app)
        screen = sign_in(browser, base, people["host"], viewport={"width": 1280, "height": 900})
        phone = sign_in(browser, base, people["learner"], viewport=PHONE, is_mobile=True, has_touch=True)
        screen.goto(f"{base}/classes/sessions/{people['session']}/screen")
        expect(screen.locator("#attendance-count")).to_have_text("0")
        old = read_code(screen)
        assert old.startswith(f"{base}/classes/sessions/{people['session']}/attend?t=")
        first_image = screen.locator("#attendance-qr").get_attribute("src")

        # 40 seconds later (two rotations): the screen fetches its new code without reloading the page.
        frozen.close()
        frozen.enter_context(clock.freeze(T0 + timedelta(seconds=40)))
        screen.evaluate("window.name = 'same page'")
        until(screen, "document.getElementById('attendance-qr').src !== "
              f"{first_image!r}", timeout=30)
        assert screen.evaluate("window.name") == "same page"  # no reload
        current = read_code(screen)
        assert current != old

        # The photo taken 40 s earlier: refused, saying why; nothing recorded.
        phone.goto(old)
        expect(phone.locator("#attend-result")).to_contain_text("签到码已过期")
        expect(phone.get_by_role("button", name="确认签到")).to_have_count(0)
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        # The current code: one tap records the attendance and the hours.
        phone.goto(current)
        phone.get_by_role("button", name="确认签到").click()
        expect(phone.locator("#attend-result")).to_contain_text("签到成功，已记入 3 学时")
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        phone.goto(base + "/me/classes")
        expect(phone.locator(".attendance")).to_contain_text("扫码签到")
        expect(phone.locator(".programme-certificate")).to_contain_text("研修培训结业证明")  # 100 % attended
        phone.goto(base + "/me/hours/2026")
        expect(phone.get_by_text("人工智能高级研修班 / 第一讲 大模型应用")).to_be_visible()

        # The host's live count follows (the next refresh).
        expect(screen.locator("#attendance-count")).to_have_text("1", timeout=30_000)
